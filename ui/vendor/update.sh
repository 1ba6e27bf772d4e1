#!/usr/bin/env bash
# Refresh the vendored libraries from the npm registry at the versions pinned below, with their licenses.
# Usage: ui/vendor/update.sh   (needs npm and tar; writes into this folder and rewrites VERSIONS)
# To upgrade, change a version here, run the script, check the UI and the browser tests, commit.
set -euo pipefail

CYTOSCAPE=3.34.4          # cytoscape: the graph canvas (pan, zoom, selection)
CYTOSCAPE_DAGRE=4.0.1     # cytoscape-dagre: the layered DAG layout; its ES build bundles the two below
DAGRE=3.0.0               # @dagrejs/dagre, as bundled inside cytoscape-dagre 4.0.1 (license only)
GRAPHLIB=4.0.1            # @dagrejs/graphlib, as bundled inside cytoscape-dagre 4.0.1 (license only)
MARKED=18.2.1             # marked: agent text (markdown) to HTML
DOMPURIFY=3.5.0           # dompurify: what marked made, sanitised before it reaches the page
HIGHLIGHT=11.12.0         # @highlightjs/cdn-assets: highlight.js core and the languages listed below
HIGHLIGHT_LANGUAGES="bash css diff go javascript json python rust shell sql typescript xml yaml"

here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch <package> <version> -> unpacks into $work/<package>/package
    local dir="$work/${1//\//_}"
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1@$2" >/dev/null && tar xzf ./*.tgz)
    echo "$dir/package"
}

module() {  # module <src> <dest>: copy an ES module build without its source-map comment
    grep -v '^//# sourceMappingURL=' "$1" > "$2"
}

cy="$(fetch cytoscape "$CYTOSCAPE")"
cd_="$(fetch cytoscape-dagre "$CYTOSCAPE_DAGRE")"
dagre="$(fetch @dagrejs/dagre "$DAGRE")"
graphlib="$(fetch @dagrejs/graphlib "$GRAPHLIB")"
marked="$(fetch marked "$MARKED")"
purify="$(fetch dompurify "$DOMPURIFY")"
hljs="$(fetch @highlightjs/cdn-assets "$HIGHLIGHT")"

module "$cy/dist/cytoscape.esm.min.mjs" "$here/cytoscape.esm.min.js"
module "$cd_/dist/cytoscape-dagre.min.mjs" "$here/cytoscape-dagre.esm.min.js"
cp "$cy/LICENSE" "$here/LICENSE.cytoscape"
cp "$cd_/LICENSE" "$here/LICENSE.cytoscape-dagre"
cp "$dagre/LICENSE" "$here/LICENSE.dagre"
cp "$graphlib/LICENSE" "$here/LICENSE.graphlib"
module "$marked/lib/marked.esm.js" "$here/marked.esm.js"
module "$purify/dist/purify.es.mjs" "$here/purify.esm.js"
module "$hljs/es/core.min.js" "$here/highlight.core.min.js"
rm -rf "$here/highlight-languages" && mkdir "$here/highlight-languages"
for language in $HIGHLIGHT_LANGUAGES; do
    module "$hljs/es/languages/$language.min.js" "$here/highlight-languages/$language.min.js"
done
cp "$marked/LICENSE" "$here/LICENSE.marked"
cp "$purify/LICENSE" "$here/LICENSE.dompurify"
cp "$hljs/LICENSE" "$here/LICENSE.highlight.js"

{
    echo "# Vendored by update.sh from the npm registry; do not edit these files by hand."
    echo "# package            version  file                            sha256"
    printf '%-20s %-8s %-31s %s\n' cytoscape "$CYTOSCAPE" cytoscape.esm.min.js \
        "$(sha256sum "$here/cytoscape.esm.min.js" | cut -d' ' -f1)"
    printf '%-20s %-8s %-31s %s\n' cytoscape-dagre "$CYTOSCAPE_DAGRE" cytoscape-dagre.esm.min.js \
        "$(sha256sum "$here/cytoscape-dagre.esm.min.js" | cut -d' ' -f1)"
    printf '%-20s %-8s %-31s %s\n' @dagrejs/dagre "$DAGRE" "(bundled in cytoscape-dagre)" "-"
    printf '%-20s %-8s %-31s %s\n' @dagrejs/graphlib "$GRAPHLIB" "(bundled in cytoscape-dagre)" "-"
    printf '%-20s %-8s %-31s %s\n' marked "$MARKED" marked.esm.js "$(sha256sum "$here/marked.esm.js" | cut -d' ' -f1)"
    printf '%-20s %-8s %-31s %s\n' dompurify "$DOMPURIFY" purify.esm.js "$(sha256sum "$here/purify.esm.js" | cut -d' ' -f1)"
    printf '%-20s %-8s %-31s %s\n' @highlightjs/cdn-assets "$HIGHLIGHT" highlight.core.min.js \
        "$(sha256sum "$here/highlight.core.min.js" | cut -d' ' -f1)"
    for language in $HIGHLIGHT_LANGUAGES; do
        printf '%-20s %-8s %-31s %s\n' "  (language)" "$HIGHLIGHT" "highlight-languages/$language.min.js" \
            "$(sha256sum "$here/highlight-languages/$language.min.js" | cut -d' ' -f1)"
    done
} > "$here/VERSIONS"
cat "$here/VERSIONS"
