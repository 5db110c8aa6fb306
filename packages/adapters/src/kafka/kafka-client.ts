import type * as KafkaJs from 'kafkajs';
import { KafkaClientMissingError } from '../errors';

let loaded: typeof KafkaJs | undefined;

/**
 * Loads `kafkajs` on first use. It is an optional peer dependency of `@psi/adapters`, so users
 * who never create a Kafka transport do not need it installed.
 *
 * @throws KafkaClientMissingError when `kafkajs` cannot be resolved.
 */
export function loadKafkajs(): typeof KafkaJs {
  if (loaded) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer dependency, loaded lazily
    loaded = require('kafkajs') as typeof KafkaJs;
  } catch (error) {
    if (isModuleNotFound(error)) throw new KafkaClientMissingError({ cause: error });
    throw error;
  }
  return loaded;
}

function isModuleNotFound(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === 'MODULE_NOT_FOUND' &&
    String((error as { message?: unknown }).message).includes("'kafkajs'")
  );
}
