/**
 * onnxruntime-web as a peer: the relevance kernel as a two-node ONNX graph, MatMul + ReduceMax over the token axis,
 * run by the wasm execution provider (MLAS, SIMD).
 *
 *   q [B, P, d] --MatMul(Tt [d, C], an initializer)--> S [B, P, C] --ReduceMax(axes [1], keepdims 0)--> R [B, C]
 *
 * The graph is serialised by a minimal protobuf encoder written here for the handful of ONNX messages it needs
 * (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto, OperatorSetIdProto):
 * onnxruntime-web exports no graph builder. Field numbers are those of onnx/onnx.proto (IR version 8, opset 13,
 * where ReduceMax still takes `axes` as an attribute). The dictionary is an initializer, so it is resident in the
 * session like our packed dictionary; the unfused graph materialises the [B, P, C] scores, which is its cost.
 */

// ---- protobuf wire format ----------------------------------------------------------------------------------------

class Writer {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }

  private varint(v: number | bigint): void {
    let n = BigInt(v);
    if (n < 0n) n += 1n << 64n; // negative int64: two's complement, ten bytes
    const out: number[] = [];
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) byte |= 0x80;
      out.push(byte);
    } while (n > 0n);
    this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: 0 | 2): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, w: Writer): this {
    return this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// ---- the ONNX messages used ---------------------------------------------------------------------------------------

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2; // AttributeProto.AttributeType.INT
const ATTR_INTS = 7; // AttributeProto.AttributeType.INTS

/** ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 } } } } } */
function valueInfo(name: string, dims: number[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.message(1, new Writer().int(1, d));
  const tensorType = new Writer().int(1, FLOAT).message(2, shape);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType));
}

/** TensorProto { dims = 1, data_type = 2, name = 8, raw_data = 9 } (raw data little-endian float32). */
function tensor(name: string, dims: number[], data: Float32Array): Writer {
  const w = new Writer();
  for (const d of dims) w.int(1, d);
  w.int(2, FLOAT).string(8, name);
  return w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** AttributeProto { name = 1, i = 3, ints = 8, type = 20 }. */
function attrInt(name: string, v: number): Writer {
  return new Writer().string(1, name).int(3, v).int(20, ATTR_INT);
}
function attrInts(name: string, vs: number[]): Writer {
  const w = new Writer().string(1, name);
  for (const v of vs) w.int(8, v);
  return w.int(20, ATTR_INTS);
}

/** NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5 }. */
function node(op: string, inputs: string[], outputs: string[], attrs: Writer[] = []): Writer {
  const w = new Writer();
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  w.string(3, `${op.toLowerCase()}0`).string(4, op);
  for (const a of attrs) w.message(5, a);
  return w;
}

/**
 * The serialised ONNX model of the relevance kernel for one shape: input `q` [B, P, d], initializer `Tt` [d, C]
 * (the dictionary transposed), output `r` [B, C] = max over P of q Tt. ModelProto { ir_version = 1,
 * producer_name = 2, graph = 7, opset_import = 8 }; GraphProto { node = 1, name = 2, initializer = 5, input = 11,
 * output = 12 }.
 */
export function relevanceOnnxModel(B: number, P: number, d: number, C: number, Tt: Float32Array): Uint8Array {
  if (Tt.length !== d * C) throw new Error(`relevanceOnnxModel: Tt must hold d * C = ${d * C} values, found ${Tt.length}`);
  const graph = new Writer()
    .message(1, node('MatMul', ['q', 'Tt'], ['s']))
    .message(1, node('ReduceMax', ['s'], ['r'], [attrInts('axes', [1]), attrInt('keepdims', 0)]))
    .string(2, 'fdt_relevance')
    .message(5, tensor('Tt', [d, C], Tt))
    .message(11, valueInfo('q', [B, P, d]))
    .message(12, valueInfo('r', [B, C]));
  return new Writer()
    .int(1, 8)
    .string(2, 'fdtkit-bench')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, 13))
    .finish();
}

/** T [C, d] row-major -> Tt [d, C]. */
export function transposeDictionary(T: Float32Array, C: number, d: number): Float32Array {
  const out = new Float32Array(C * d);
  for (let c = 0; c < C; c++) for (let k = 0; k < d; k++) out[k * C + c] = T[c * d + k]!;
  return out;
}

// ---- the runner ---------------------------------------------------------------------------------------------------

type Ort = typeof import('onnxruntime-web');

let ortPromise: Promise<Ort> | null = null;

/** Imports onnxruntime-web once (its Node build loads its .wasm files from the package folder). */
export function loadOrt(): Promise<Ort> {
  ortPromise ??= import('onnxruntime-web').then((m) => ((m as { default?: Ort }).default ?? m) as Ort);
  return ortPromise;
}

/** What the onnxruntime-web session was set up with. */
export interface OrtInfo {
  version: string;
  numThreads: number;
  simd: string;
}

/**
 * Builds the graph for a shape and returns an async runner of one forward call (inputs fed from a Float32Array
 * each call, output read back), plus what ort ran with. `threads`: ort.env.wasm.numThreads (1 = no workers);
 * set before the first session, as ort reads it once when it initialises its wasm module.
 */
export async function ortRelevanceRunner(
  B: number, P: number, d: number, C: number, q: Float32Array, T: Float32Array, threads: number,
): Promise<{ run: () => Promise<Float32Array>; info: OrtInfo; release: () => Promise<void> }> {
  const ort = await loadOrt();
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const model = relevanceOnnxModel(B, P, d, C, transposeDictionary(T, C, d));
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const input = new ort.Tensor('float32', q, [B, P, d]);
  return {
    run: async () => {
      const out = await session.run({ q: input });
      const r = out['r']!;
      const data = r.data as Float32Array;
      r.dispose();
      return data;
    },
    info: {
      version: ort.env.versions?.web ?? 'unknown',
      numThreads: ort.env.wasm.numThreads ?? threads,
      simd: String(ort.env.wasm.simd ?? 'auto'),
    },
    release: () => session.release(),
  };
}
