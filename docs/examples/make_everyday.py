"""Nine everyday shapes at their real size, one OBJ each: the set of docs/planners.md's issue-26
depth measurements (a can, a ball, a marker and a bottle lie and roll; a tea box and a bar of
soap do not).

    python docs/examples/make_everyday.py /tmp/everyday
    graspbench run --env docs/examples/everyday_single.yaml --agent heuristic --episodes 30 --seed 100
"""

import sys
from pathlib import Path

import trimesh

SHAPES = {  # metres
    "can": trimesh.creation.cylinder(0.033, 0.122, sections=48),
    "tennis_ball": trimesh.creation.icosphere(3, 0.0335),
    "marker": trimesh.creation.cylinder(0.008, 0.13, sections=32),
    "banana": trimesh.creation.capsule(0.12, 0.018),
    "tea_box": trimesh.creation.box((0.065, 0.065, 0.12)),
    "soap": trimesh.creation.box((0.09, 0.055, 0.03)),
    "bottle": trimesh.creation.cylinder(0.032, 0.20, sections=48),
    "glue_stick": trimesh.creation.cylinder(0.012, 0.10, sections=32),
    "pill_bottle": trimesh.creation.cylinder(0.02, 0.07, sections=32),
}

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "everyday")
    out.mkdir(parents=True, exist_ok=True)
    for name, mesh in SHAPES.items():
        mesh.export(out / f"{name}.obj")
    print(f"wrote {len(SHAPES)} meshes to {out}")
