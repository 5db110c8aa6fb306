/** How the demo reaches the supplier (and the ERP). */
export type DemoTransport = 'in-process' | 'http' | 'kafka';

export const DEMO_TRANSPORTS: readonly DemoTransport[] = ['in-process', 'http', 'kafka'];

/** The demo's command line, checked. */
export interface DemoArgs {
  transport: DemoTransport;
  /**
   * Kafka bootstrap servers (`--brokers`, else `KAFKA_BROKERS`). Unset with the kafka transport:
   * the demo starts librdkafka's mock cluster for the run.
   */
  brokers?: string[];
  /** `--trace`: print the order as an OpenTelemetry span tree at the end. */
  trace?: boolean;
}

export const DEMO_USAGE = `usage: npm run demo -- [--transport in-process|http|kafka] [--brokers host:port[,host:port]] [--trace]
  --transport  in-process (default): supplier and ERP in this process
               http: supplier and ERP are HTTP services on 127.0.0.1; PSI sends with HttpTransport
                     and receives the confirmation on an HttpInboundServer (random free ports)
               kafka: the supplier is a Kafka service (KafkaServiceHost); the ERP stays in-process
  --brokers    Kafka bootstrap servers; default: the KAFKA_BROKERS environment variable, else an
               embedded mock Kafka cluster (librdkafka's, through node-rdkafka) for this run
  --trace      print the order as an OpenTelemetry span tree (an in-memory exporter in the demo)`;

/** A command line the demo cannot run with; main prints the message and exits with 2. */
export class DemoUsageError extends Error {
  constructor(problem: string) {
    super(`${problem}\n${DEMO_USAGE}`);
    this.name = 'DemoUsageError';
  }
}

/** Reads `--transport` and `--brokers` (also as `--name=value`); `env` supplies KAFKA_BROKERS. */
export function parseDemoArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): DemoArgs {
  let transport: DemoTransport = 'in-process';
  let brokers: string | undefined;
  let trace = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? splitOnce(arg) : [arg];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new DemoUsageError(`${flag} needs a value.`);
      return v;
    };
    if (flag === '--transport') {
      const name = value();
      if (!DEMO_TRANSPORTS.includes(name as DemoTransport)) {
        throw new DemoUsageError(
          `Unknown transport "${name}"; choose one of ${DEMO_TRANSPORTS.join(', ')}.`,
        );
      }
      transport = name as DemoTransport;
    } else if (flag === '--brokers') {
      brokers = value();
    } else if (arg === '--trace') {
      trace = true;
    } else {
      throw new DemoUsageError(`Unknown argument "${arg}".`);
    }
  }
  const traced = trace ? { trace } : {};
  if (transport !== 'kafka') return { transport, ...traced };
  const list = (brokers ?? env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  if (list.length === 0) return { transport, ...traced };
  return { transport, brokers: list, ...traced };
}

function splitOnce(arg: string): [string, string] {
  const at = arg.indexOf('=');
  return [arg.slice(0, at), arg.slice(at + 1)];
}
