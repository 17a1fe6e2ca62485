#!/usr/bin/env node
// The `fdt` command. Each subcommand lives in its own module and is imported only when used.
import { FdtError } from '../errors.js';

const USAGE = `fdt <command> [options]

commands:
  verify FILE.json [--engine wasm|tfjs] [--build simd|scalar|relaxed|auto] [--checkpoint CKPT]
                         run a golden file (official format) through the FDT head and compare every field
  import CKPT --out MODEL.safetensors [--temperature T] [--normalizer N] [--mask-mode M]
                         convert an official .pth.tar checkpoint into an fdtkit model file
  explain IMAGE [--model MODEL.safetensors] [--text "caption"] [--top K] [--out DIR] [--size PX] [--json]
                         token heat maps of an image (PNG/JPEG/SVG file or emoji name) and the words sharing its tokens
  doctor [--backends a,b]
                         capabilities, engines and the dispatcher's decision for a few sizes, with reasons
  calibrate [--quick] [--backends a,b] [--tokens C] [--dim d]
                         time both engines on image and caption encodes and training gradients at the model's
                         size (default d = 512, C = 16384); the dispatcher then picks the faster per call
  demo [--quick] [--out DIR] [--seed S]
                         train and evaluate FDT vs the CLIP baseline on emoji pairs, write a report (fdt-out/)
  train [--tokens C] [--dim d] [--temperature T] [--epochs E] [--out MODEL.safetensors]
                         train one FDT head on the emoji data
  eval --model MODEL.safetensors [--style S]
                         retrieval and zero-shot figures on the test concepts of any installed emoji set
  embed --model M (--images a.png,b.svg | --emoji NAME,... | --captions "a","b") [--format json|safetensors] [--out F]
                         embeddings and sparse token weights
  bench [--quick|--full] [--json FILE] [--suites a,b]
                         the benchmark suite (the repository's, with the peers, in a checkout; our kernels otherwise)
  help                   this text
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'verify':
      return (await import('./verify.js')).runVerify(rest);
    case 'bench':
      return (await import('./bench.js')).runBench(rest);
    case 'import':
      return (await import('./import.js')).runImport(rest);
    case 'demo':
      return (await import('./demo.js')).runDemoCommand(rest);
    case 'train':
      return (await import('./train.js')).runTrain(rest);
    case 'eval':
      return (await import('./eval.js')).runEval(rest);
    case 'embed':
      return (await import('./embed.js')).runEmbed(rest);
    case 'explain':
      return (await import('./explain.js')).runExplain(rest);
    case 'doctor':
      return (await import('./doctor.js')).runDoctor(rest);
    case 'calibrate':
      return (await import('./calibrate.js')).runCalibrate(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`fdt: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof FdtError) process.stderr.write(`fdt: ${err.name}: ${err.message}\n`);
    else process.stderr.write(`fdt: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
