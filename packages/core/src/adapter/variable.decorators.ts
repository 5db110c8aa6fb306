import { INPUTS_KEY, OUTPUTS_KEY, appendMetadata } from './metadata-keys';

/** Options of {@link Input}. */
export interface InputOptions {
  /** Process variable name. @default the property name */
  variable?: string;
}

/**
 * Fills the property from a process variable before `callService` and before each response
 * handler. Put class-validator decorators on the same property: they validate it on invoke.
 */
export function Input(variableOrOptions?: string | InputOptions): PropertyDecorator {
  return (target, property) => {
    const variable =
      typeof variableOrOptions === 'string'
        ? variableOrOptions
        : (variableOrOptions?.variable ?? String(property));
    appendMetadata(INPUTS_KEY, target.constructor, { property: String(property), variable });
  };
}

/**
 * Writes the property back to a process variable after `callService` or a response handler,
 * when the property is not `undefined`.
 */
export function Output(variable?: string): PropertyDecorator {
  return (target, property) => {
    appendMetadata(OUTPUTS_KEY, target.constructor, {
      property: String(property),
      variable: variable ?? String(property),
    });
  };
}
