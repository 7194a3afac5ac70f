"""Traffic the lab sends: every request carries an X-Request-ID and yields one `RequestRecord`."""

from lab.traffic.record import RequestRecord
from lab.traffic.upload import send_uploads

__all__ = ["RequestRecord", "send_uploads"]
