using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace BiVM.Estimators.MLNet;

/// <summary>
/// Video frames come in any size, but ML.NET only maps an <see cref="MLImage"/> member to a column
/// when it carries <c>[ImageType(height, width)]</c> with a fixed size. Registering MLImage as an image
/// type of unknown size lets row classes (and BiVM's own mapping) hold frames of any size.
/// Called by <c>ApplyBiVM</c>; call it yourself before <c>LoadFromEnumerable</c> of such rows.
/// </summary>
public static class VariableSizeImages
{
    private static readonly Lazy<bool> Registered = new(() =>
    {
        try
        {
            DataViewTypeManager.Register(new ImageDataViewType(), typeof(MLImage));
        }
        catch (ArgumentException)
        {
            // Already registered by the application: keep its registration.
        }
        return true;
    });

    /// <summary>Registers MLImage as an image type of any size; once per process, later calls do nothing.</summary>
    public static void Register() => _ = Registered.Value;
}
