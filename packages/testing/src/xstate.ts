/**
 * `@psi/testing/xstate`: the XState plugin as the engine of a test environment. Its own entry
 * point because its types name xstate's (an optional peer dependency of `@psi/engines`).
 *
 * @example
 * import { PsiTestEnvironment } from '@psi/testing';
 * import { xstateEngine } from '@psi/testing/xstate';
 *
 * const env = await PsiTestEnvironment.create({ engine: xstateEngine([machine]), adapters, services });
 *
 * @module
 */
import { XStatePlugin, type XStatePluginOptions } from '@psi/engines/xstate';
import type { TestEngineFactory } from './test-engines';

/** The XState plugin with `definitions` (machines), its delayed events on the test clock. */
export function xstateEngine(
  definitions: XStatePluginOptions['definitions'],
  options: Pick<XStatePluginOptions, 'defaultEvent'> = {},
): TestEngineFactory {
  return ({ stateRepository, clock, onError }) =>
    new XStatePlugin({
      ...options,
      definitions,
      stateRepository,
      timers: clock,
      clock: () => clock.now(),
      onError,
    });
}
