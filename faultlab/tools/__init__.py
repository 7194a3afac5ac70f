"""diagnose, fix and explain: data in, data out (their text views are in faultlab/output/)."""

MAX_DIAGNOSE_MIB = 64  # diagnose reads at most this much input: a paste, a log file, not /dev/zero
