#!/usr/bin/env bash
# Installs the Pulumi CLI version pinned in package.json (devDependency "pulumi") where the pinned npm launcher
# looks first (~/.pulumi/versions/<version>/bin), after checking the release archive's SHA-256 against the
# checksums Pulumi publishes with the release, then installs the provider plugins that package-lock.json pins.
# Run it before any credential exists in the job: the npm launcher would otherwise download and run Pulumi's
# install script unverified at the first `npx pulumi`, after azure/login. Nothing here is ever restored from a
# cache: a job of lower trust could have written it.
#
# The archive comes from get.pulumi.com and the checksums from the GitHub release, two origins, so that a
# tampered archive needs both to be compromised. PULUMI_DOWNLOAD_BASE and PULUMI_CHECKSUMS_BASE override them
# (tests; a mirror), and must stay https.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
version="$(node -p 'require(process.argv[1]).devDependencies.pulumi' "$root/package.json")"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "::error::package.json must pin the pulumi devDependency to an exact version, not '$version'" >&2
  exit 1
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64) platform=linux-arm64 ;;
  Darwin-x86_64) platform=darwin-x64 ;;
  Darwin-arm64) platform=darwin-arm64 ;;
  *) echo "::error::no Pulumi CLI release for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
download_base="${PULUMI_DOWNLOAD_BASE:-https://get.pulumi.com/releases/sdk}"
checksums_base="${PULUMI_CHECKSUMS_BASE:-https://github.com/pulumi/pulumi/releases/download/v${version}}"
for base in "$download_base" "$checksums_base"; do
  if [[ "$base" != https://* ]]; then echo "::error::refusing to download over $base: https only" >&2; exit 1; fi
done

archive="pulumi-v${version}-${platform}.tar.gz"
checksums="pulumi-${version}-checksums.txt"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fetch() { curl --fail --silent --show-error --location --proto '=https' --proto-redir '=https' --tlsv1.2 \
  --retry 3 --retry-delay 2 --max-time 300 --output "$2" "$1"; }
fetch "$download_base/$archive" "$work/$archive"
fetch "$checksums_base/$checksums" "$work/$checksums"

# The checksums file is `<sha256>  <file name>` per line (goreleaser's format).
expected="$(awk -v file="$archive" '$2 == file || $2 == "*" file { print $1 }' "$work/$checksums")"
if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
  echo "::error::$checksums has no SHA-256 for $archive" >&2
  exit 1
fi
actual="$(sha256sum "$work/$archive" | cut -d ' ' -f 1)"
if [ "$actual" != "$expected" ]; then
  echo "::error::$archive has SHA-256 $actual, but Pulumi published $expected: not installing it" >&2
  exit 1
fi

dest="${PULUMI_HOME:-$HOME/.pulumi}/versions/$version"
rm -rf "$dest"
mkdir -p "$dest/bin"
# The archive wraps everything in pulumi/: the CLI and its language hosts.
tar -xzf "$work/$archive" -C "$dest/bin" --strip-components=1
installed="$("$dest/bin/pulumi" version)"
if [ "$installed" != "v$version" ]; then
  echo "::error::the installed CLI reports $installed, expected v$version" >&2
  exit 1
fi
echo "Installed Pulumi CLI $installed (SHA-256 $actual) in $dest/bin"

# Provider plugins of the Pulumi packages in node_modules (resource packages declare themselves in package.json).
node -e '
  const fs = require("fs"), path = require("path");
  const dir = path.join(process.argv[1], "node_modules", "@pulumi");
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name, "package.json");
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    if (pkg.pulumi && pkg.pulumi.resource === true) {
      console.log([pkg.pulumi.name || name, pkg.pulumi.version || pkg.version, pkg.pulumi.server || ""].join(" "));
    }
  }' "$root" | while read -r name plugin_version server; do
  args=(plugin install resource "$name" "v${plugin_version#v}" --non-interactive)
  if [ -n "$server" ]; then args+=(--server "$server"); fi
  PULUMI_SKIP_UPDATE_CHECK=true "$dest/bin/pulumi" "${args[@]}"
done
