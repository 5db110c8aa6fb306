import { Type } from 'class-transformer';
import {
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsObject,
  IsOptional,
  IsPositive,
  IsString,
  Min,
  ValidateNested,
} from 'class-validator';

/** The `retry` object of a registry entry; every field optional, core applies defaults. */
export class RetryPolicyDto {
  @IsOptional()
  @IsInt()
  @Min(1)
  maxAttempts?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  initialDelayMs?: number;

  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(1)
  multiplier?: number;

  @IsOptional()
  @IsInt()
  @Min(0)
  maxDelayMs?: number;
}

/**
 * One registry entry as written in a file, in code or in a database row: the coordinates of a
 * service without its name (the name is the entry's key). Unknown fields are rejected, so a typo
 * such as `timeoutMS` fails loudly instead of being ignored.
 */
export class CoordinatesDto {
  /** Optional; when present it must equal the entry's key. */
  @IsOptional()
  @IsString()
  service?: string;

  @IsString()
  @IsNotEmpty()
  transport!: string;

  @IsString()
  @IsNotEmpty()
  address!: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  replyAddress?: string;

  @IsOptional()
  @IsInt()
  @IsPositive()
  timeoutMs?: number;

  @IsOptional()
  @IsInt()
  @IsPositive()
  parkingTtlMs?: number;

  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => RetryPolicyDto)
  retry?: RetryPolicyDto;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  version?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  environment?: string;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  tenant?: string;
}
