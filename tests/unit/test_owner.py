"""Owner labels: `lab clean` may remove a stack only when the process that started it is provably gone."""

import socket
import subprocess
import sys

from faultlab.infra import owner


def test_this_process_is_alive():
    assert owner.state(str(owner.current())) == "alive"


def test_a_finished_process_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    label = str(owner.of(child.pid))
    child.wait()
    assert owner.state(label) == "dead"


def test_a_reused_pid_does_not_count_as_the_owner():
    me = owner.current()
    assert owner.state(str(owner.Owner(me.host, me.boot_id, me.pid, "1"))) == "dead"


def test_another_boot_of_this_machine_is_dead():
    me = owner.current()
    assert owner.state(str(owner.Owner(me.host, "another-boot", me.pid, me.started))) == "dead"


def test_unknown_owners_are_never_judged_dead():
    me = owner.current()
    for label in ("", None, "garbage", f"not-{socket.gethostname()}/{me.boot_id}/1/1"):
        assert owner.state(label) == "unknown"
