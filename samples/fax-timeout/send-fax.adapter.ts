import { Input, OnResponse, Output, ServiceAdapter, UseService } from '@psi/core';
import { IsInt, IsNotEmpty, IsString, Min } from 'class-validator';

/** How long the process waits for the "sent" report. */
export const FAX_TIMEOUT_MS = 500;

/** The fax gateway: accepts a fax now, reports "fax-sent" later (or never). */
export abstract class FaxGateway {
  abstract sendFax(fax: { to: string; document: string }): Promise<void>;
}

export class FaxSentReport {
  @IsInt() @Min(1) pages!: number;
  @IsString() @IsNotEmpty() transmissionId!: string;
}

@ServiceAdapter({ step: 'send-fax', service: 'fax-gateway' })
export class SendFaxAdapter {
  @Input() @IsString() @IsNotEmpty() to!: string;
  @Input() @IsString() @IsNotEmpty() document!: string;
  @Output() pages?: number;
  @Output() transmissionId?: string;
  @UseService() gateway!: FaxGateway;

  async callService(): Promise<void> {
    await this.gateway.sendFax({ to: this.to, document: this.document });
  }

  @OnResponse('fax-sent', {
    waitState: 'await-sent',
    payload: FaxSentReport,
    timeoutMs: FAX_TIMEOUT_MS,
    timeoutTransition: 'timeout',
  })
  sent(report: FaxSentReport): string {
    this.pages = report.pages;
    this.transmissionId = report.transmissionId;
    return 'sent';
  }
}
