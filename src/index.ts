// The public surface of fdtkit (re-exports only; importing this module changes no global state).
export { FDT } from './fdt.js';
export type { Batch, CreateOptions, Encoding, GradientOptions, GradientResult, LossResult, ParamGradientResult, SparseRow } from './fdt.js';
export { DEFAULT_CONFIG, resolveConfig } from './config.js';
export type { FdtConfig, MaskMode, Normalizer } from './config.js';
export { FdtEngineError, FdtError, FdtFormatError, FdtShapeError, FdtValueError } from './errors.js';
export { INITIAL_LOGIT_SCALE, isDecayed, paramShapes } from './params.js';
export type { FdtParams } from './params.js';
export { tensor } from './tensor.js';
export type { Tensor, TensorLike } from './tensor.js';
export { Trainer } from './train/trainer.js';
export type { TrainerOptions, StepResult, TrainableHead } from './train/trainer.js';
export { ClipHead } from './baseline/clip-head.js';
export type { ClipConfig } from './baseline/clip-head.js';
export { learningRate } from './train/schedule.js';
export type { Schedule } from './train/schedule.js';
