#!/usr/bin/env node
// The `fdt` command. Each subcommand lives in its own module and is imported only when used.
import { FdtError } from '../errors.js';
import { isArgumentError, wantsHelp } from './usage.js';

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

'fdt COMMAND --help' describes each command's options.
`;

/** A subcommand: what runs it, and the text `fdt COMMAND --help` prints. */
interface Command {
  run(args: string[]): Promise<number>;
  usage: string;
}

// Each module is imported only when its command runs.
const COMMANDS: Record<string, () => Promise<Command>> = {
  verify: async () => { const m = await import('./verify.js'); return { run: m.runVerify, usage: m.VERIFY_USAGE }; },
  bench: async () => { const m = await import('./bench.js'); return { run: m.runBench, usage: m.BENCH_USAGE }; },
  import: async () => { const m = await import('./import.js'); return { run: m.runImport, usage: m.IMPORT_USAGE }; },
  demo: async () => { const m = await import('./demo.js'); return { run: m.runDemoCommand, usage: m.DEMO_USAGE }; },
  train: async () => { const m = await import('./train.js'); return { run: m.runTrain, usage: m.TRAIN_USAGE }; },
  eval: async () => { const m = await import('./eval.js'); return { run: m.runEval, usage: m.EVAL_USAGE }; },
  embed: async () => { const m = await import('./embed.js'); return { run: m.runEmbed, usage: m.EMBED_USAGE }; },
  explain: async () => { const m = await import('./explain.js'); return { run: (a) => m.runExplain(a), usage: m.EXPLAIN_HELP }; },
  doctor: async () => { const m = await import('./doctor.js'); return { run: m.runDoctor, usage: m.DOCTOR_USAGE }; },
  calibrate: async () => { const m = await import('./calibrate.js'); return { run: m.runCalibrate, usage: m.CALIBRATE_USAGE }; },
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && Object.hasOwn(COMMANDS, command)) {
    const cmd = await COMMANDS[command]!();
    if (wantsHelp(rest)) {
      process.stdout.write(cmd.usage);
      return 0;
    }
    try {
      return await cmd.run(rest);
    } catch (e) {
      if (!isArgumentError(e)) throw e;
      process.stderr.write(`fdt ${command}: ${e.message}\n\n${cmd.usage}`);
      return 2;
    }
  }
  switch (command) {
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
