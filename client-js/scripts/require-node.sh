#!/bin/sh
# Fails with a message naming what to install when Node.js 20+ or npm is missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "client-js needs Node.js 20 or later and npm on the PATH: install them (Debian: apt-get install -y nodejs npm; or https://nodejs.org)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "client-js needs Node.js 20 or later, found $(node --version): install a newer Node.js" >&2
  exit 1
fi
