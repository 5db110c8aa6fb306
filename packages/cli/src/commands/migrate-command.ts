import { migrateStore } from '@psi/core';
import { allowOnly } from '../args';
import { storeOptions, STORE_FLAGS } from '../context';
import type { CliIo, OutputFormat } from '../output';
import { writeDocument } from '../output';
import type { ParsedArgs } from '../args';

/** `psi migrate`: psi-migrate's job, with its options and environment. */
export async function migrateCommand(
  args: ParsedArgs,
  io: CliIo,
  format: OutputFormat,
): Promise<number> {
  allowOnly(args, [...STORE_FLAGS, 'output'], 'migrate');
  const report = await migrateStore(storeOptions(args));
  if (format !== 'text') writeDocument(io, format, report);
  else {
    const where =
      report.kind === 'postgres'
        ? `PostgreSQL schema "${report.location}"`
        : `SQLite file ${report.location}`;
    io.stdout(`${where} is up to date: ${report.migrations.join(', ')}\n`);
  }
  return 0;
}
