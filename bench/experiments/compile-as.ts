// AssemblyScript compiled in memory with the shipped build's options, for the experiments that time variants of the
// kernels (kernel-variants.ts, tile-code.ts) against each other and against the shipped module.
import asc from 'assemblyscript/asc';

/**
 * `source` compiled as the simd target of asconfig.json is (-O3, shrink 0, stub runtime, no asserts); `relaxed` adds
 * relaxed SIMD (the relaxed target), `shared` makes it import one shared memory of at most 4 GiB (the -shared
 * targets). Throws with asc's messages when it does not compile.
 */
export async function compileLikeShipped(source: string, o: { relaxed?: boolean; shared?: boolean } = {}): Promise<Uint8Array<ArrayBuffer>> {
  const res = await asc.compileString(source, {
    optimizeLevel: 3, shrinkLevel: 0, runtime: 'stub', noAssert: true, initialMemory: 1, exportRuntime: false,
    enable: ['simd', ...(o.relaxed ? ['relaxed-simd'] : []), ...(o.shared ? ['threads'] : [])],
    ...(o.shared ? { sharedMemory: true, importMemory: true, maximumMemory: 65536 } : {}),
  } as Parameters<typeof asc.compileString>[1]);
  if (!res.binary) throw new Error(`asc failed: ${res.stderr.toString()}`);
  return res.binary as Uint8Array<ArrayBuffer>;
}
