/**
 * Typed errors. Every message names the argument, what was expected and what was found, so a caller can fix the
 * call without reading the library's source.
 */

/** Base class of every error this library throws on purpose. */
export class FdtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A tensor of the wrong rank or size, or dimensions that disagree with each other or with the model. */
export class FdtShapeError extends FdtError {}

/** A value out of its domain: NaN or Inf, a mask entry other than 0/1, a temperature <= 0, an unknown option. */
export class FdtValueError extends FdtError {}

/** An engine that cannot run here: a forced engine that is unavailable, or a failed initialisation. */
export class FdtEngineError extends FdtError {}

/** A file (checkpoint, safetensors, golden JSON) that is malformed, truncated, hostile or inconsistent. */
export class FdtFormatError extends FdtError {}
