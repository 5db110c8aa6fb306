/**
 * `psi`, the operator CLI: lists, timelines and actions of the operations API on a SQLite file or
 * a PostgreSQL schema.
 *
 * ```bash
 * npx psi dead-letters --cause late --sqlite .psi/psi.sqlite
 * npx psi dead-letters replay --cause late --reason "ERP back" --dry-run
 * ```
 */
export { runCli } from './main';
export type { CliIo, OutputFormat } from './output';
