"""How the built-in OpenFlow controller marks and ages the flows it installs.

Shared by the controller's helpers (:mod:`vnetlab.agents.controller`, which
``up`` imports without os-ken) and the learning switch itself
(:mod:`vnetlab.agents.learning_switch`, which needs os-ken).
"""

COOKIE = 0x766E6C6162       # "vnlab": marks the flows this controller installs
COOKIE_MASK = 0xFFFFFFFFFFFFFFFF
DEFAULT_IDLE_TIMEOUT = 60   # seconds a learned flow lives without traffic
