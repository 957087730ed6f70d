# Two commands for a fresh Debian/Ubuntu machine, as root:
#   make demo   - install what is missing, then build, check and remove every example lab
#   make test   - install what is missing, then run the whole test suite
# `make install` is the shared first step; the CLI ends up at .venv/bin/vnetlab.

# Debian's own Python: a venv made from one under /root (pyenv's, mode 700)
# cannot be run by an ordinary user, and rootless labs run as one.
PYTHON ?= /usr/bin/python3
VENV := .venv
VPY := $(VENV)/bin/python
# What vnetlab and its tests use from Debian: ip/bridge (iproute2), ping for
# the tests' cross-checks, tcpdump for captures, nmap for scans, nft/iptables for firewalls,
# OVS for the L2 labs, conntrack/ethtool, strace and tshark for the tests' cross-checks,
# the venv module for the virtualenv, dnsmasq (dnsmasq-base: the binary without
# Debian's system service) for the labs' DHCP, DNS and router advertisements, and
# busybox for its udhcpc, the labs' DHCP client (never the udhcpc or isc-dhcp-client
# packages: their hooks edit the host's /etc/resolv.conf).
DEB_PACKAGES := iproute2 iputils-ping procps tcpdump nmap nftables iptables conntrack python3-venv python3-pip openvswitch-switch ethtool strace tshark dnsmasq-base busybox
# What only the benchmarks use (never part of `make install`): hyperfine for
# benchmarks/startup.py. Mininet is benchmarks/star.py --setup's own step.
BENCH_DEB_PACKAGES := hyperfine
# graphviz lays out `vnetlab graph`'s pictures; chromium (headless, driven by
# Playwright) runs the web UI's end-to-end tests; fonts-dejavu-core gives both
# a font. Installed without their recommends (chromium's pull in desktop daemons).
UI_DEB_PACKAGES := graphviz chromium fonts-dejavu-core

.PHONY: install deps venv-python bench-deps demo test lint unit integration bench clean

# Every vnetlab command is a new Python process (the tests start thousands):
# without the bytecode cache each one compiles vnetlab's sources again
# (~0.2 s), so an inherited PYTHONDONTWRITEBYTECODE is not passed on.
unexport PYTHONDONTWRITEBYTECODE

install: deps venv-python $(VENV)/.installed

# Installs the Debian packages of $(1) that are missing ($(2): what for, in the
# message; $(3): more apt-get options).
define install-missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages$(2):$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(3) $$missing; \
	fi
endef

deps:
	$(call install-missing,$(DEB_PACKAGES),)
	$(call install-missing,$(UI_DEB_PACKAGES), for pictures and the web UI,--no-install-recommends)

# A venv made from another Python than $(PYTHON) is made again.
venv-python:
	@want="$$(readlink -f $(PYTHON))"; have="$$(cat $(VENV)/.python 2>/dev/null)"; \
	if [ "$$have" != "$$want" ]; then \
	  if [ -d $(VENV) ]; then echo "making $(VENV) again from $$want (it was made from $${have:-another Python})"; fi; \
	  rm -rf $(VENV); mkdir -p $(VENV); echo "$$want" > $(VENV)/.python; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test]'
	$(VPY) -m compileall -q src
	@touch $@

demo: install
	$(VPY) -m vnetlab.cli.demo examples

test: install lint
	$(VPY) -m pytest -q tests

# The layering of ARCHITECTURE.md (import-linter contracts in pyproject.toml).
lint: install
	$(VENV)/bin/lint-imports

unit: install
	$(VPY) -m pytest -q tests/unit

integration: install
	$(VPY) -m pytest -q tests/integration

bench-deps:
	$(call install-missing,$(BENCH_DEB_PACKAGES), for the benchmarks)

bench: install bench-deps
	$(VPY) benchmarks/star.py
	$(VPY) benchmarks/tree.py
	$(VPY) benchmarks/startup.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
