/** `psi help`. */
export const USAGE = `usage: psi <command> [options]

Look at what PSI waits for and act on it, on the store the nodes share.

  status                                 counts, activity, runs in progress
  expectations [filters]                 what each instance waits for, until when
  parked [filters]                       answers waiting (why, TTL left, where they go)
  parked release|expire <id…>|[filters]  deliver now if the instance is ready / dead-letter now
  dead-letters [filters]                 answers that could not be delivered
  dead-letters groups [filters]          ... grouped by reason, event and service
  dead-letters replay|discard <id…>|[filters]
  invocations [filters]                  service calls (frozen ones with their last error)
  invocations thaw <id…>|[filters]       run frozen invocations again
  guards [filters]                       process guards and their TTL
  guards release <id…>|[filters]
  <list> show <id>                       one record, whole
  instance <id>                          an instance's records and timeline
  inject --event e --payload json [--correlation-key k] [--business-key f=v,…]
  operations [--status s] | operations show <id> | operations cancel <id>
  migrate                                create the schema / run pending migrations

Store (every command; as psi-migrate): --url <postgres url> --schema <schema> | --sqlite <file>;
  default PSI_DATABASE_URL (+ PSI_DATABASE_SCHEMA) when set, else PSI_SQLITE_PATH or .psi/psi.sqlite
Output: -o text|json|jsonl (schemas: @psi/cli/schemas/psi-cli.schema.json), --limit n (50),
  --cursor c, --oldest, --all-pages
Filters: --instance --event --service --correlation-key --business-key (value or field=value)
  --message-id --cause (dead-letter / parked reason) --status --guard --owner
  --from/--to (ISO or epoch ms) --older-than/--newer-than (90s, 15m, 2h, 7d)
Actions: --reason (required) --actor (default PSI_ACTOR or the OS user) --dry-run --yes (bulk
  by filter, when no terminal confirms) --match-all --rps n (bulk rate, default 50)
  --no-wait --node-timeout 15s --timeout d

Exit codes: 0 done; 1 failed (an item failed, not found, store error, no node took the run);
2 usage (unknown command or option, missing --reason, bulk without confirmation).
`;
