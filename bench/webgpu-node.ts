/**
 * WebGPU for Node through the `webgpu` package (Dawn), for the bench and the GPU check: installs its globals and a
 * `navigator.gpu`, so tfjs-backend-webgpu registers as it does in a browser or in Deno (which have WebGPU built
 * in). Dawn's default backend (Vulkan, Metal, D3D12) first; without one, OpenGL ES at the 'compatibility' level.
 * Does nothing where `navigator.gpu` exists already.
 *
 * @returns null when WebGPU is there, else why not (the package is missing or has no build for this platform).
 */
export async function installNodeWebGpu(): Promise<string | null> {
  if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return null;
  try {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    let gpu = create([]);
    if (!(await gpu.requestAdapter())) {
      process.env['EGL_PLATFORM'] ??= 'surfaceless'; // headless Mesa
      const gles = create(['backend=opengles']);
      const request = gles.requestAdapter.bind(gles);
      gles.requestAdapter = (o: object = {}) => request({ ...o, featureLevel: 'compatibility' } as never);
      gpu = gles;
    }
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    return null;
  } catch (e) {
    return `the webgpu package is not usable here: ${(e as Error).message.split('\n')[0]}`;
  }
}
