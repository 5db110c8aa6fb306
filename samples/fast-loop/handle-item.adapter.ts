import { Input, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsInt, IsNotEmpty, IsPositive, IsString } from 'class-validator';

/** The handler service: takes one produced item and answers at once (synchronous reply). */
export abstract class ItemHandler {
  abstract handle(item: { loop: string; item: number; payload: string }): Promise<HandledItem>;
}

export interface HandledItem {
  item: number;
  result: string;
}

/** Serves the loop's `handle` step: one call to the handler per item, then `more` or `done`. */
@ServiceAdapter({ step: 'handle', service: 'item-handler' })
export class HandleItemAdapter {
  @Input() @IsString() @IsNotEmpty() loop!: string;
  @Input() @IsInt() @IsPositive() item!: number;
  @Input() @IsString() @IsNotEmpty() payload!: string;
  /** How many items the loop produces. */
  @Input() @IsInt() @IsPositive() iterations!: number;

  @Output() handled?: number;
  @Output() lastResult?: string;

  @UseService() handler!: ItemHandler;

  async callService(): Promise<string> {
    const answer = await this.handler.handle({
      loop: this.loop,
      item: this.item,
      payload: this.payload,
    });
    this.handled = answer.item;
    this.lastResult = answer.result;
    return this.item < this.iterations ? 'more' : 'done';
  }
}
