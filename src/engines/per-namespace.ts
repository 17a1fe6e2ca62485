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
    if (!isNamespaceObject(tf)) throw new TypeError(`tf: expected a namespace object, found ${tf === null ? 'null' : typeof tf}`);
    let v = this.byNamespace.get(tf);
    if (v === undefined) this.byNamespace.set(tf, (v = make()));
    return v;
  }
}

/** True for what can be a tf namespace: an object (a module namespace is one) or a function; not null. */
export function isNamespaceObject(v: unknown): v is object {
  return v !== null && (typeof v === 'object' || typeof v === 'function');
}
