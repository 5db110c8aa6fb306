import type { PluginClass } from './store-options';
import { AuditEntryEntity } from './entities/audit-entry.entity';
import { DeadLetterEntity } from './entities/dead-letter.entity';
import { EngineInstanceEntity } from './entities/engine-instance.entity';
import { ExpectationEntity } from './entities/expectation.entity';
import { InboundMessageEntity } from './entities/inbound-message.entity';
import { InvocationEntity } from './entities/invocation.entity';
import { OutboxEntryEntity } from './entities/outbox-entry.entity';
import { ParkedMessageEntity } from './entities/parked-message.entity';
import { ProcessGuardEntity } from './entities/process-guard.entity';
import { OperationEntity } from './entities/operation.entity';
import { OperationItemEntity } from './entities/operation-item.entity';
import { InitialSchema1732000000000 } from './migrations/1732000000000-initial-schema';
import { NodeLeases1733000000000 } from './migrations/1733000000000-node-leases';
import { ExpectationByInvocation1734000000000 } from './migrations/1734000000000-expectation-by-invocation';
import { PartialIndexes1735000000000 } from './migrations/1735000000000-partial-indexes';
import { ScopedDedupe1736410000000 } from './migrations/1736410000000-scoped-dedupe';
import { CrashSafety1736420000000 } from './migrations/1736420000000-crash-safety';
import { DeadLetterEdgeIndexes1737100000000 } from './migrations/1737100000000-dead-letter-edge-indexes';
import { WaitStateExpectations1738100000000 } from './migrations/1738100000000-wait-state-expectations';
import { Operations1739000000000 } from './migrations/1739000000000-operations';
import { FlatPopulationIndexes1740100000000 } from './migrations/1740100000000-flat-population-indexes';
import { TraceContext1741000000000 } from './migrations/1741000000000-trace-context';

export const psiEntities: PluginClass[] = [
  InvocationEntity,
  ExpectationEntity,
  ParkedMessageEntity,
  DeadLetterEntity,
  InboundMessageEntity,
  OutboxEntryEntity,
  AuditEntryEntity,
  ProcessGuardEntity,
  EngineInstanceEntity,
  OperationEntity,
  OperationItemEntity,
];

export const psiMigrations: PluginClass[] = [
  InitialSchema1732000000000,
  NodeLeases1733000000000,
  ExpectationByInvocation1734000000000,
  PartialIndexes1735000000000,
  ScopedDedupe1736410000000,
  CrashSafety1736420000000,
  DeadLetterEdgeIndexes1737100000000,
  WaitStateExpectations1738100000000,
  Operations1739000000000,
  FlatPopulationIndexes1740100000000,
  TraceContext1741000000000,
];
