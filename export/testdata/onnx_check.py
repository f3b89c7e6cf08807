"""Checks ONNX files with the onnx package's checker and strict shape
inference (Debian's python3-onnx); prints, per file, the opset, IR version,
node count and inferred output shape as a JSON list."""
import json
import sys

import onnx

results = []
for path in sys.argv[1:]:
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape
    results.append({"opset": model.opset_import[0].version, "ir": model.ir_version, "nodes": len(model.graph.node),
                    "output_dims": [d.dim_param or d.dim_value for d in out.dim]})
print(json.dumps(results))
