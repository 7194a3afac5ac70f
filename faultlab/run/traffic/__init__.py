"""Traffic the lab sends: every request carries an X-Request-ID and yields one `RequestRecord`.

Uploads stream through httpx (fine for a few large bodies); load goes through the lab's own
engine in `load.py`, because httpx is far too slow to reproduce the races of a real `ab` run.
"""

from faultlab.run.traffic.record import RequestRecord
from faultlab.run.traffic.upload import send_uploads

__all__ = ["RequestRecord", "send_uploads"]
