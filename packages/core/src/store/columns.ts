import type { ValueTransformer } from 'typeorm';

// pg returns BIGINT as string; epoch milliseconds fit in a JS number, so convert back.
export const epochMs: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
