using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Mislata.Infrastructure.Persistence.Audit;

/// <summary>
/// One row of the append-only audit log. Each tenant (and the platform, chain <see cref="Guid.Empty"/>) has its own
/// keyed chain: <c>hash = HMAC-SHA-256(K, prev_hash ‖ canonical(event))</c> under a master-key derived key
/// (<see cref="AuditChain"/>), so editing, deleting or re-chaining rows with database access alone is detectable.
/// </summary>
public sealed class AuditEventRecord
{
    public Guid Id { get; set; }

    public Guid Chain { get; set; }

    public long Sequence { get; set; }

    public DateTimeOffset OccurredAt { get; set; }

    public Guid? TenantId { get; set; }

    public string ActorType { get; set; } = string.Empty;

    public string ActorId { get; set; } = string.Empty;

    public string Action { get; set; } = string.Empty;

    public string? ResourceType { get; set; }

    public string? ResourceId { get; set; }

    public string Outcome { get; set; } = string.Empty;

    public string? ErrorCode { get; set; }

    public string? SourceIp { get; set; }

    public string? RequestId { get; set; }

    /// <summary>Canonical JSON object of non-secret details (sorted keys), or null.</summary>
    public string? Details { get; set; }

    public byte[] PrevHash { get; set; } = [];

    public byte[] Hash { get; set; } = [];

    /// <summary>The id of the master key whose chain key MAC'd this link; null for a v1 (unkeyed, pre-upgrade) row.</summary>
    public string? MacKeyId { get; set; }
}

/// <summary>
/// The last link of each chain; writers lock it (FOR UPDATE) so replicas append in turn. Its MAC binds the chain to
/// its last sequence and hash, so removing rows from the end is detectable.
/// </summary>
public sealed class AuditChainHead
{
    public Guid Chain { get; set; }

    public long LastSequence { get; set; }

    public byte[] LastHash { get; set; } = [];

    public string? MacKeyId { get; set; }

    /// <summary>Null only before the one-time seal of a chain written before the chain was keyed.</summary>
    public byte[]? Mac { get; set; }
}

/// <summary>
/// How far <c>/audit/verify</c> has verified a chain: links up to <see cref="Sequence"/> hold, the last one being
/// <see cref="Hash"/>; the round-robin re-check of those older links stands after <see cref="RescanAfter"/>. MAC'd, so a
/// forged checkpoint is detected. Services read, insert and update it; it holds no event data.
/// </summary>
public sealed class AuditCheckpoint
{
    public Guid Chain { get; set; }

    public long Sequence { get; set; }

    public byte[] Hash { get; set; } = [];

    public bool KeyedSeen { get; set; }

    public long RescanAfter { get; set; }

    public string MacKeyId { get; set; } = string.Empty;

    public byte[] Mac { get; set; } = [];

    public DateTimeOffset VerifiedAt { get; set; }
}

internal sealed class AuditEventRecordConfiguration : IEntityTypeConfiguration<AuditEventRecord>
{
    public void Configure(EntityTypeBuilder<AuditEventRecord> e)
    {
        e.ToTable("audit_events");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
        e.Property(x => x.Chain).HasColumnName("chain");
        e.Property(x => x.Sequence).HasColumnName("sequence");
        e.Property(x => x.OccurredAt).HasColumnName("occurred_at");
        e.Property(x => x.TenantId).HasColumnName("tenant_id");
        e.Property(x => x.ActorType).HasColumnName("actor_type").HasMaxLength(16);
        e.Property(x => x.ActorId).HasColumnName("actor_id").HasMaxLength(200);
        e.Property(x => x.Action).HasColumnName("action").HasMaxLength(100);
        e.Property(x => x.ResourceType).HasColumnName("resource_type").HasMaxLength(64);
        e.Property(x => x.ResourceId).HasColumnName("resource_id").HasMaxLength(200);
        e.Property(x => x.Outcome).HasColumnName("outcome").HasMaxLength(16);
        e.Property(x => x.ErrorCode).HasColumnName("error_code").HasMaxLength(64);
        e.Property(x => x.SourceIp).HasColumnName("source_ip").HasMaxLength(64);
        e.Property(x => x.RequestId).HasColumnName("request_id").HasMaxLength(128);
        e.Property(x => x.Details).HasColumnName("details").HasColumnType("jsonb");
        e.Property(x => x.PrevHash).HasColumnName("prev_hash");
        e.Property(x => x.Hash).HasColumnName("hash");
        e.Property(x => x.MacKeyId).HasColumnName("mac_key_id").HasMaxLength(32);
        e.HasIndex(x => new { x.Chain, x.Sequence }).IsUnique();
        e.HasIndex(x => new { x.Chain, x.OccurredAt });
        e.HasIndex(x => new { x.Chain, x.Action });
        e.HasIndex(x => new { x.Chain, x.ResourceId });
    }
}

internal sealed class AuditChainHeadConfiguration : IEntityTypeConfiguration<AuditChainHead>
{
    public void Configure(EntityTypeBuilder<AuditChainHead> e)
    {
        e.ToTable("audit_chain_heads");
        e.HasKey(x => x.Chain);
        e.Property(x => x.Chain).HasColumnName("chain").ValueGeneratedNever();
        e.Property(x => x.LastSequence).HasColumnName("last_sequence");
        e.Property(x => x.LastHash).HasColumnName("last_hash");
        e.Property(x => x.MacKeyId).HasColumnName("mac_key_id").HasMaxLength(32);
        e.Property(x => x.Mac).HasColumnName("mac");
    }
}

internal sealed class AuditCheckpointConfiguration : IEntityTypeConfiguration<AuditCheckpoint>
{
    public void Configure(EntityTypeBuilder<AuditCheckpoint> e)
    {
        e.ToTable("audit_checkpoints");
        e.HasKey(x => x.Chain);
        e.Property(x => x.Chain).HasColumnName("chain").ValueGeneratedNever();
        e.Property(x => x.Sequence).HasColumnName("sequence");
        e.Property(x => x.Hash).HasColumnName("hash");
        e.Property(x => x.KeyedSeen).HasColumnName("keyed_seen");
        e.Property(x => x.RescanAfter).HasColumnName("rescan_after");
        e.Property(x => x.MacKeyId).HasColumnName("mac_key_id").HasMaxLength(32);
        e.Property(x => x.Mac).HasColumnName("mac");
        e.Property(x => x.VerifiedAt).HasColumnName("verified_at");
    }
}
