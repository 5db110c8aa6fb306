import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs } from '../columns';

export type OperationItemStatus = 'started' | 'succeeded' | 'failed' | 'skipped';

/** What one operation did to one target: written `started` before, settled after. */
@Entity('psi_operation_item')
@Index('psi_operation_item_order', ['operationId', 'position'])
export class OperationItemEntity {
  @PrimaryColumn('varchar') operationId!: string;
  @PrimaryColumn('varchar') target!: string;
  /** Order in which the run started its items. */
  @Column('integer') position!: number;
  @Column('varchar') status!: OperationItemStatus;
  /** JSON: the action's outcome (a replay's ReceiveOutcome, an error, why it was skipped). */
  @Column('text', { nullable: true }) outcome!: string | null;
  @Column('varchar', { nullable: true }) instanceId!: string | null;
  @Column('bigint', { transformer: epochMs }) startedAt!: number;
  @Column('bigint', { nullable: true, transformer: epochMs }) finishedAt!: number | null;
}
