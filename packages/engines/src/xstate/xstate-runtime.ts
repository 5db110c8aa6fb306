import type * as XState from 'xstate';
import { loadOptionalDependency } from '../shared/optional-dependency';

/** The xstate module, as the plugin uses it (loaded on first use). */
export type XStateRuntime = typeof XState;

/** xstate, loaded when an XStatePlugin is built. @throws EngineDependencyMissingError */
export function loadXState(): XStateRuntime {
  return loadOptionalDependency<XStateRuntime>('xstate', '^5.33.3', 'XStatePlugin');
}
