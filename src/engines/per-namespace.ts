/**
 * One value per user tf namespace, and one for calls that give none: the registries of engines, dispatchers, call
 * queues and tfjs initialisations are kept per namespace. The namespaces are held weakly: a namespace object the
 * user drops (a wrapper, or a namespace of a bundle that is unloaded) takes what was made for it along. A module
 * namespace imported by the program lives as long as its module anyway.
 */
export class PerNamespace<V> {
  private readonly byNamespace = new WeakMap<object, V>();
  private none: V | undefined;

  /**
   * The value for `tf` (undefined: none given), made by `make` on first use.
   * @throws TypeError for a `tf` that is neither an object nor a function (the API refuses those first).
   */
  get(tf: unknown, make: () => V): V {
    if (tf === undefined) return (this.none ??= make());
    if (tf === null || (typeof tf !== 'object' && typeof tf !== 'function')) throw new TypeError(`tf: expected a namespace object, found ${tf === null ? 'null' : typeof tf}`);
    const key = tf as object;
    let v = this.byNamespace.get(key);
    if (v === undefined) this.byNamespace.set(key, (v = make()));
    return v;
  }
}
