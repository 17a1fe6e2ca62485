/**
 * One value per user tf namespace, and one for calls that give none: the registries of engines, dispatchers, call
 * queues and tfjs initialisations are kept per namespace. The namespaces are held weakly, so a namespace the user
 * drops (and what was made for it) can be collected.
 */
export class PerNamespace<V> {
  private readonly byNamespace = new WeakMap<object, V>();
  private none: V | undefined;

  /** The value for `tf` (undefined or null: none given), made by `make` on first use. */
  get(tf: unknown, make: () => V): V {
    if (tf === undefined || tf === null) return (this.none ??= make());
    const key = tf as object;
    let v = this.byNamespace.get(key);
    if (v === undefined) this.byNamespace.set(key, (v = make()));
    return v;
  }
}
