import { Input, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsInt, IsNotEmpty, IsPositive, IsString } from 'class-validator';
import { ErpService } from '../contracts';

/** Books the confirmed order in the ERP, which answers synchronously. */
@ServiceAdapter({ step: 'insert-into-erp', service: 'erp' })
export class InsertIntoErpAdapter {
  @Input() @IsString() @IsNotEmpty() orderNumber!: string;
  @Input() @IsString() @IsNotEmpty() item!: string;
  @Input() @IsInt() @IsPositive() quantity!: number;
  @Input() @IsString() @IsNotEmpty() confirmationId!: string;

  @Output() erpDocumentId?: string;

  @UseService() erp!: ErpService;

  async callService(): Promise<void> {
    const { documentId } = await this.erp.insertOrder({
      orderNumber: this.orderNumber,
      item: this.item,
      quantity: this.quantity,
      confirmationId: this.confirmationId,
    });
    this.erpDocumentId = documentId;
  }
}
