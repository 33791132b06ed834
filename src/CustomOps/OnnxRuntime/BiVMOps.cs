using System.Runtime.CompilerServices;
using BiVM.Contracts;
using BiVM.CustomOps.BinaryConv2d;
using Microsoft.ML.OnnxRuntime;

namespace BiVM.CustomOps.OnnxRuntime;

/// <summary>
/// Registers the <c>ai.bivm</c> operator domain (opset 1: <c>BinaryConv2d</c>, <c>SparseBinaryConv2d</c>, <c>ShortcutRPReLU</c>, <c>Upsample2xConcat</c>, <c>GuidedUpsample</c>, <c>GuidedStatistics</c>, <c>ShortcutSum</c>,
/// <c>GruStateConcat</c>, <c>GruGates</c>, <c>GruUpdate</c>, <c>ConvGru</c>, <c>AveragePool2x</c>, <c>Stem</c>, <c>Incoherence</c>, <c>ChannelMean</c>) with
/// ONNX Runtime session options. Pure C#: the ops are C# callbacks handed to ORT's C API.
/// </summary>
/// <remarks>
/// Lifetime: ORT keeps raw pointers to the domain and its ops inside every session created from the options, and a
/// session may outlive its options. The domain (one per forced-kernel choice) is therefore created once per
/// process and shared by every registration: any number of options and sessions, no per-session leak, nothing
/// freed while in use. Registering the same options twice is a no-op.
/// </remarks>
public static class BiVMOps
{
    private static readonly Dictionary<string, nint> s_domains = new();
    private static readonly ConditionalWeakTable<SessionOptions, HashSet<nint>> s_registered = new();
    private static readonly Lock s_lock = new();

    /// <summary>
    /// The session configuration entry through which <see cref="Register"/> tells the ops the session's intra-op thread
    /// count (SessionOptions.IntraOpNumThreads as set when it registers, where it is set), so that in a session of one
    /// thread they run their work items as a loop rather than through ParallelFor, and with more they hand it chunks of
    /// items per thread (<see cref="OrtParallelRunner"/>).
    /// </summary>
    public const string IntraOpThreadsKey = "ai.bivm.intra_op_num_threads";

    /// <summary>
    /// Adds the ai.bivm domain to <paramref name="options"/>. Set IntraOpNumThreads first: its value then is what the
    /// ops are told (<see cref="IntraOpThreadsKey"/>); a count set afterwards reaches ONNX Runtime only.
    /// </summary>
    /// <param name="forceKernel">Popcount kernel to use in every node ("avx512bw", "avx2", "portable"); null picks the best supported.</param>
    public static void Register(SessionOptions options, string? forceKernel = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        string key = forceKernel?.ToLowerInvariant() ?? "";
        if (key.Length > 0) KernelSelector.SelectedName(BinaryConv2dParams.Square(1, 1, 1, 1, 1, 1), key); // unknown / unsupported → throws here, not at session creation
        lock (s_lock)
        {
            if (!s_domains.TryGetValue(key, out nint domain))
            {
                domain = CreateDomain(key.Length == 0 ? null : key);
                s_domains[key] = domain;
                PublishOnce(domain);
            }
            var done = s_registered.GetOrCreateValue(options);
            bool first = done.Count == 0;
            if (!done.Add(domain)) return;
            if (first && options.IntraOpNumThreads > 0)
                options.AddSessionConfigEntry(IntraOpThreadsKey, options.IntraOpNumThreads.ToString(System.Globalization.CultureInfo.InvariantCulture));
            bool addRef = false;
            try
            {
                options.DangerousAddRef(ref addRef);
                OrtApi.AddCustomOpDomain(options.DangerousGetHandle(), domain);
            }
            catch
            {
                done.Remove(domain);
                throw;
            }
            finally
            {
                if (addRef) options.DangerousRelease();
            }
        }
    }

    private static bool s_published;

    /// <summary>
    /// ONNX Runtime enters a custom domain in ONNX's process-wide domain-to-version map when it creates a session with
    /// it (CreateCustomRegistry), by an unsynchronized find-then-add: two sessions created at once, before the domain
    /// is in the map, can both add it, and the second fails ("Trying to add a domain to DomainToVersion map, but the
    /// domain is already exist with version range (1, 1000). domain: ai.bivm"); seen in parallel tests. So the first
    /// registration in a process creates one session with the domain itself, under the lock, before any caller can
    /// create one: afterwards every session finds the domain in the map and only reads it.
    /// </summary>
    private static void PublishOnce(nint domain)
    {
        if (s_published) return;
        using var options = new SessionOptions();
        bool addRef = false;
        try
        {
            options.DangerousAddRef(ref addRef);
            OrtApi.AddCustomOpDomain(options.DangerousGetHandle(), domain);
        }
        finally
        {
            if (addRef) options.DangerousRelease();
        }
        using (new InferenceSession(DomainProbeModel, options)) { }
        s_published = true;
    }

    /// <summary>
    /// A one-node standard ONNX model (y = Identity(x), float [1], opset 17): what <see cref="PublishOnce"/> loads.
    /// The bytes OnnxGraphBuilder (src/Graph) writes for it; written out here because this assembly needs only ONNX Runtime.
    /// </summary>
    private static readonly byte[] DomainProbeModel =
    [
        0x08, 0x08, 0x12, 0x09, 0x42, 0x69, 0x56, 0x4D, 0x2E, 0x4F, 0x6E, 0x6E, 0x78, 0x3A, 0x4C, 0x0A, 0x1A, 0x0A, 0x01, 0x78,
        0x12, 0x01, 0x79, 0x1A, 0x08, 0x69, 0x64, 0x65, 0x6E, 0x74, 0x69, 0x74, 0x79, 0x22, 0x08, 0x49, 0x64, 0x65, 0x6E, 0x74,
        0x69, 0x74, 0x79, 0x12, 0x0C, 0x64, 0x6F, 0x6D, 0x61, 0x69, 0x6E, 0x5F, 0x70, 0x72, 0x6F, 0x62, 0x65, 0x5A, 0x0F, 0x0A,
        0x01, 0x78, 0x12, 0x0A, 0x0A, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0A, 0x02, 0x08, 0x01, 0x62, 0x0F, 0x0A, 0x01, 0x79, 0x12,
        0x0A, 0x0A, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0A, 0x02, 0x08, 0x01, 0x42, 0x02, 0x10, 0x11,
    ];

    private static unsafe nint CreateDomain(string? forceKernel)
    {
        nint domain = OrtApi.CreateCustomOpDomain(BinaryConvSchema.Domain);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.Create(sparse: false, forceKernel).Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.Create(sparse: true, forceKernel).Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateActivation().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateUpsampleConcat().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateGuidedUpsample().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateGuidedStatistics().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateShortcutSum().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateAveragePool().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateStem().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateIncoherence().Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateChannelMean().Native);
        foreach (var gru in new[] { BinaryConvSchema.GruStateConcat, BinaryConvSchema.GruGates, BinaryConvSchema.GruUpdate })
            OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateGru(gru).Native);
        OrtApi.CustomOpDomainAdd(domain, BiVMOpDefinition.CreateGru(BinaryConvSchema.ConvGru, forceKernel).Native);
        return domain;
    }

    /// <summary>
    /// For <c>bivm info</c>: registers the domain on fresh options (which exercises the C API table and the op
    /// structs) and reports the kernel the selector picks on this CPU. Throws if registration fails.
    /// </summary>
    public static string SelfTest()
    {
        using (var options = new SessionOptions()) Register(options);
        var probe = BinaryConv2dParams.Square(1, 64, 8, 8, 64, 3);
        return $"{BinaryConvSchema.Domain} v{BinaryConvSchema.OpsetVersion} registers ({BinaryConvSchema.BinaryConv2d}, {BinaryConvSchema.SparseBinaryConv2d}, {BinaryConvSchema.ShortcutRPReLU}, {BinaryConvSchema.Upsample2xConcat}, {BinaryConvSchema.GuidedUpsample}, {BinaryConvSchema.GuidedStatistics}, {BinaryConvSchema.ShortcutSum}, {BinaryConvSchema.GruStateConcat}, {BinaryConvSchema.GruGates}, {BinaryConvSchema.GruUpdate}, {BinaryConvSchema.ConvGru}, {BinaryConvSchema.AveragePool2x}, {BinaryConvSchema.Stem}, {BinaryConvSchema.Incoherence}, {BinaryConvSchema.ChannelMean}); kernel {KernelSelector.SelectedName(probe)} " +
               $"(supported: {string.Join(", ", KernelSelector.SupportedNames)})";
    }
}
