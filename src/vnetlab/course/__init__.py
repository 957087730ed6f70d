"""The course: exercise files, each student's instance and progress, and grading
(`vnetlab course …`). Above lab.py: it builds, probes and reboots labs through it."""
