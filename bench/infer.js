// ONNX Runtime side of `bench -suite infer`: times an exported generator
// on one random image with onnxruntime-node (CPU execution provider, all
// graph optimisations, the given intra-op threads) and prints JSON with
// per-run seconds and peak RSS, as bench/infer.py does for PyTorch.
//
// usage: NODE_PATH=<onnxruntime-node's node_modules> node infer.js MODEL.onnx SIZE STEPS THREADS
const ort = require("onnxruntime-node");

async function main() {
  const [model, size, steps, threads] = process.argv.slice(2);
  const n = Number(size);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
  });
  const data = new Float32Array(3 * n * n);
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
  const input = new ort.Tensor("float32", data, [1, 3, n, n]);
  const times = [];
  for (let i = 0; i < Number(steps) + 1; i++) {
    const start = process.hrtime.bigint();
    await session.run({ input });
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    if (i >= 1) times.push(s); // the first run plans and allocates
  }
  // maxRSS is in kilobytes, like getrusage's ru_maxrss.
  console.log(JSON.stringify({ times, peak_rss_kb: process.resourceUsage().maxRSS }));
}

main().catch((e) => {
  console.error("infer.js:", e.message);
  process.exit(1);
});
