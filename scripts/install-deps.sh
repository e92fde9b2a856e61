#!/usr/bin/env bash
# Installs the Debian packages faxhub and its tests need, only those missing (idempotent).
# Ghostscript converts documents; libtiff-tools reads odd TIFFs and checks TIFF-F independently;
# qpdf opens PDFs encrypted with an empty password; LibreOffice (driven through python3-uno)
# converts Office documents; Postfix plays the
# upstream MTA in end-to-end tests and gives smtp-source for the benchmark; swaks sends test mail;
# Tesseract reads fax pages back in the legibility and cover page tests; libspandsp (LGPL, linked
# dynamically from Debian's package) is the T.30 engine of the SIP/T.38 line; SIPp (sip-tester)
# plays far ends that are busy, absent or not fax machines; tshark judges our SIP, SDP, T.38
# and RTP on the wire; Dovecot checks the passwords faxhub gives the relay (Postfix's SASL);
# openssl makes the test CA the relay's certificate is checked against; bubblewrap is the sandbox
# every converter runs in (no network, no server files, memory and CPU ceilings); PostgreSQL is
# the shared store of several nodes (the tests start servers of their own on private sockets);
# curl asks the HTTP API, and Prometheus scrapes its metrics (promtool lints them and the alert
# rules of share/prometheus); slapd is the directory (OpenLDAP) the LDAP tests start privately;
# chromium and chromium-driver are the browser the web client's tests drive over WebDriver;
# Carlito and Caladea are the metric-compatible stand-ins for Calibri and Cambria in mails;
# libheif (heif-convert) reads iPhone photos and libjpeg-turbo (djpeg) the JPEGs the Rust decoder
# refuses (the tests make theirs with heif-enc and cjpeg).
set -euo pipefail
packages=(ghostscript libtiff-tools qpdf libreoffice-writer-nogui libreoffice-calc-nogui libreoffice-impress-nogui
  python3-uno fonts-liberation fonts-dejavu-core fonts-crosextra-carlito fonts-crosextra-caladea libheif-examples libjpeg-turbo-progs postfix swaks libnet-ssleay-perl libauthen-sasl-perl sqlite3 procps
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra libspandsp-dev sip-tester tshark dovecot-core dovecot-imapd openssl bubblewrap
  postgresql curl prometheus python3-pip slapd ldap-utils
  chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  # Postfix must not ask questions nor start a system instance of its own.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  # Nor PostgreSQL or Prometheus a system instance: services are not started while installing
  # (the tests start their own on private ports).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python modules the tests check faxhub with, as independent implementations (PyPI, every
# version pinned in tests/tools/requirements.txt, into the build tree rather than the system's
# Python).
root="$(cd "$(dirname "$0")/.." && pwd)"
pydeps="$root/target/pydeps"
want="$(sha256sum "$root/tests/tools/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$pydeps/.installed" 2>/dev/null)" != "$want" ]; then
  rm -rf "$pydeps"
  /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-input \
    --no-deps --target "$pydeps" -r "$root/tests/tools/requirements.txt"
  echo "$want" > "$pydeps/.installed"
fi
