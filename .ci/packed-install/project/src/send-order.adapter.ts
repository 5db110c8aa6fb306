// The README's "An adapter in 20 lines", as a user writes it against the installed packages.
import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsDateString, IsInt, IsNotEmpty, IsPositive, IsString } from 'class-validator';

export abstract class SupplierService {
  abstract placeOrder(order: { orderNumber: string; item: string; quantity: number }): Promise<void>;
}

export class OrderConfirmation {
  @IsString() @IsNotEmpty() orderNumber!: string;
  @IsString() @IsNotEmpty() confirmationId!: string;
  @IsDateString() deliveryDate!: string;
}

@ServiceAdapter({ step: 'send-to-supplier', service: 'supplier' })
export class SendOrderAdapter {
  @Input() @IsString() @IsNotEmpty() orderNumber!: string;
  @Input() @IsString() item!: string;
  @Input() @IsInt() @IsPositive() quantity!: number;
  @Output() confirmationId?: string;
  @UseService() supplier!: SupplierService;

  async callService(): Promise<void> {
    await this.supplier.placeOrder({ orderNumber: this.orderNumber, item: this.item, quantity: this.quantity });
  }

  @OnResponse('order-confirmed', { waitState: 'await-confirmation', payload: OrderConfirmation, businessKey: { orderNumber: 'orderNumber' } })
  confirmed(confirmation: OrderConfirmation): string {
    this.confirmationId = confirmation.confirmationId;
    return 'confirmed';
  }
}
