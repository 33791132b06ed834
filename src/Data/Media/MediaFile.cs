namespace BiVM.Data.Media;

/// <summary>What a media file is: a still photo or a video.</summary>
public enum MediaKind
{
    Photo,
    Video,
}

/// <summary>
/// Where a file may be used. Files that show real people are reserved: validation, tests and
/// README pictures only, never training, so that validation numbers measure generalisation to
/// people the model has not seen (docs/data.md, "Data hygiene").
/// </summary>
public enum MediaUse
{
    TrainingAndValidation,
    ReservedRealPeople,

    /// <summary>
    /// Backgrounds held out of training and of the generated validation sets (val-sN), used only by
    /// the real-people validation set (DataSets.RealPeopleValidation), so its backgrounds are unseen too.
    /// </summary>
    HeldOutBackground,
}

/// <summary>One source file inside an unpacked Debian package (.data/debian/&lt;package&gt;/&lt;path&gt;).</summary>
/// <param name="Package">Debian package name, as fetched by scripts/fetch-media.sh.</param>
/// <param name="PathInPackage">Path relative to the package's unpacked root.</param>
/// <param name="Licence">SPDX-style licence from the package's debian/copyright (or the upstream notice).</param>
/// <param name="Description">What the picture shows, in a few words.</param>
public sealed record MediaFile(string Package, string PathInPackage, string Licence, MediaKind Kind, MediaUse Use, string Description)
{
    /// <summary>
    /// The file's name, or for a Plasma wallpaper (…/&lt;Name&gt;/contents/images/2560x1600.jpg, where
    /// every file is named by its resolution) the wallpaper's name with the file's extension.
    /// </summary>
    public string Name
    {
        get
        {
            const string marker = "/contents/images/";
            int at = PathInPackage.IndexOf(marker, StringComparison.Ordinal);
            if (at < 0) return Path.GetFileName(PathInPackage);
            return Path.GetFileName(PathInPackage[..at]) + Path.GetExtension(PathInPackage);
        }
    }

    /// <summary>Short unique name, e.g. "opencv-doc:vtest.avi"; used in clip descriptions.</summary>
    public string Id => $"{Package}:{Name}";

    public bool AllowedIn(DataSplit split) => split == DataSplit.Validation || Use == MediaUse.TrainingAndValidation;
}

/// <summary>
/// The two kinds of generated data. Training excludes <see cref="MediaUse.ReservedRealPeople"/>;
/// validation may use every file.
/// </summary>
public enum DataSplit
{
    Training,
    Validation,
}
