"""What runs inside a lab: the supervisor, its services and TAP pumps, the OpenFlow controller."""
