// Runs ONNX models with onnxruntime-node for cyclepix's export tests.
// Usage: node ort_run.js JOB.json, where the job lists
// {"model", "input", "shape", "output"} runs; inputs and outputs are raw
// little-endian float32 files. Prints {"<output>": dims, ...} as JSON.
const fs = require("fs");
const ort = require("onnxruntime-node");

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const sessions = {};
  const result = {};
  for (const run of job.runs) {
    if (!sessions[run.model]) {
      sessions[run.model] = await ort.InferenceSession.create(run.model);
    }
    const buf = fs.readFileSync(run.input);
    const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    const out = await sessions[run.model].run({ input: new ort.Tensor("float32", data, run.shape) });
    const y = out.output;
    fs.writeFileSync(run.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    result[run.output] = y.dims;
  }
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
