#!/usr/bin/env bash
# Write the outputs that a change must leave byte-identical into OUT (see docs/architecture.md):
# a render of the sample apartment (every default label, its 10 views), a derive of the shared
# Taskonomy view, a sample of the apartment (seed 0) and a batch of the apartment (render + sample).
# Compare two runs with: diff -r OUT_A OUT_B   (and `stat -c %a` for file modes)
# Usage: scripts/golden_outputs.sh OUT [SHARED_DIR]
set -euo pipefail
out=$(realpath -m "$1"); shared=$(realpath "${2:-$(dirname "$0")/../../shared}")
cd "$(dirname "$0")/.."
LG=${LABELGEN:-.venv/bin/labelgen}
rm -rf "$out"; mkdir -p "$out"
$LG render sample_meshes/apartment.glb --cameras sample_meshes/apartment_cameras.json --out "$out/render" --quiet
$LG derive "$shared/reference/taskonomy" --out "$out/derive" --quiet
$LG sample sample_meshes/apartment.glb --out "$out/sample" --seed 0 --quiet
cat > "$out/jobs.json" <<JOBS
{"defaults": {"resolution": 128},
 "jobs": [{"building": "apt", "render": {"mesh": "$PWD/sample_meshes/apartment.glb",
                                         "cameras": "$PWD/sample_meshes/apartment_cameras.json"}},
          {"building": "apt_sampled", "tasks": ["depth_zbuffer", "normal", "edge_texture", "keypoints2d"],
           "render": {"mesh": "$PWD/sample_meshes/apartment.glb", "sample": {"num_cameras": 4, "num_points": 4, "seed": 0}}}]}
JOBS
$LG batch "$out/jobs.json" --out "$out/batch" --quiet
rm -f "$out/batch/.labelgen/summary.json"   # holds timings
echo "golden outputs in $out: $(find "$out" -type f | wc -l) files"
