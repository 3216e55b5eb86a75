"""A fake Azure Resource Manager for tests: HTTPS on loopback, the real REST shapes of the parts of ARM
that aibtrigger's `aib` backend drives, token buckets, call counts and fault injection.

    tls = make_tls(tmp_dir)                       # a CA and a 127.0.0.1 certificate signed by it
    arm = FakeArm(tls, clock=FakeClock())         # .endpoint, .world, .faults, .count(...)
    arm.world.add_template("base", timeline=Timeline.minutes(45))
"""

from tests.fakearm.clock import FakeClock
from tests.fakearm.credential import FakeTokenCredential
from tests.fakearm.faults import Fault
from tests.fakearm.server import FakeArm
from tests.fakearm.tls import TlsFiles, make_tls
from tests.fakearm.world import Timeline, World

__all__ = ["FakeArm", "FakeClock", "FakeTokenCredential", "Fault", "Timeline", "TlsFiles", "World", "make_tls"]
