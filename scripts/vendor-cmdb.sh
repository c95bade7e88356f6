#!/bin/sh
# Refresh the JavaScript the structure pages vendor (itline/cmdb/static/cmdb/vendor/).
# Needs npm only here, at refresh time; running itline needs no Node.
#   scripts/vendor-cmdb.sh            # the version pinned below
#   scripts/vendor-cmdb.sh 3.36.0     # another version (then update CYTOSCAPE below)
# npm verifies the tarball against the registry's integrity hash; the file's SHA-256 is
# recorded in VERSIONS so a review sees exactly what changed.
set -eu
CYTOSCAPE="${1:-3.35.0}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/itline/cmdb/static/cmdb/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "cytoscape@$CYTOSCAPE" >/dev/null
tar xzf "cytoscape-$CYTOSCAPE.tgz"
mkdir -p "$dest"
cp package/dist/cytoscape.min.js "$dest/cytoscape.min.js"
cp package/LICENSE "$dest/cytoscape.LICENSE"
sum="$(sha256sum "$dest/cytoscape.min.js" | cut -d' ' -f1)"
cat > "$dest/VERSIONS" <<END
# Vendored front-end files of the structure pages: name version source-package file sha256
# Refresh with scripts/vendor-cmdb.sh (npm pack from the public registry).
cytoscape $CYTOSCAPE cytoscape dist/cytoscape.min.js $sum
END
echo "cytoscape $CYTOSCAPE -> $dest/cytoscape.min.js ($sum)"
