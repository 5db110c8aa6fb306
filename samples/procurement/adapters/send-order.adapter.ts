import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsDateString, IsInt, IsNotEmpty, IsPositive, IsString } from 'class-validator';
import { SupplierService } from '../contracts';

/** The supplier's confirmation; legacy suppliers send only the order number, no correlation key. */
export class OrderConfirmation {
  @IsString() @IsNotEmpty() orderNumber!: string;
  @IsString() @IsNotEmpty() confirmationId!: string;
  @IsDateString() deliveryDate!: string;
}

/**
 * How long the supplier has to confirm: past it the process gets the fault `PSI_TIMEOUT` at
 * "await-confirmation" (a confirmation after that is kept as a `late` dead letter).
 */
export const CONFIRMATION_TIMEOUT_MS = 3 * 86_400_000;

/** Sends the order to the supplier; the confirmation is delivered at "await-confirmation". */
@ServiceAdapter({ step: 'send-to-supplier', service: 'supplier' })
export class SendOrderAdapter {
  @Input() @IsString() @IsNotEmpty() orderNumber!: string;
  @Input() @IsString() @IsNotEmpty() item!: string;
  @Input() @IsInt() @IsPositive() quantity!: number;

  @Output() confirmationId?: string;
  @Output() deliveryDate?: string;

  @UseService() supplier!: SupplierService;

  async callService(): Promise<void> {
    await this.supplier.placeOrder({
      orderNumber: this.orderNumber,
      item: this.item,
      quantity: this.quantity,
    });
  }

  @OnResponse('order-confirmed', {
    waitState: 'await-confirmation',
    payload: OrderConfirmation,
    businessKey: { orderNumber: 'orderNumber' },
    timeoutMs: CONFIRMATION_TIMEOUT_MS,
  })
  confirmed(confirmation: OrderConfirmation): string {
    this.confirmationId = confirmation.confirmationId;
    this.deliveryDate = confirmation.deliveryDate;
    return 'confirmed';
  }
}
