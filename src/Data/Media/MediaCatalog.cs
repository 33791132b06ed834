using System.Text;

namespace BiVM.Data.Media;

/// <summary>
/// Every real source file the generator reads, with its Debian package and licence. This table is
/// the manifest: docs/media.md mirrors it and <see cref="FormatManifest"/> prints it. Licences come
/// from each package's /usr/share/doc/&lt;package&gt;/copyright (skimage: the per-image notes in
/// skimage/data/_fetchers.py).
/// </summary>
public static partial class MediaCatalog
{
    private const string OpenCvData = "usr/share/doc/opencv-doc/examples/data/";
    private const string OpenCvLicence = "Apache-2.0 AND BSD-3-Clause";
    private const string SkimageData = "usr/lib/python3/dist-packages/skimage/data/";
    private const string MateNature = "usr/share/backgrounds/mate/nature/";
    private const string Plasma = "usr/share/wallpapers/";
    private const string Gpl2 = "GPL-2+";
    private const string DarknetData = "usr/share/darknet/data/";
    private const string DarknetLicence = "GPL-3.0+ or MIT or WTFPL";

    public static IReadOnlyList<MediaFile> All { get; } =
    [
        // opencv-doc: OpenCV's sample data.
        Video("opencv-doc", OpenCvData + "vtest.avi", OpenCvLicence, MediaUse.ReservedRealPeople, "street scene with walking pedestrians, 768x576, 10 fps"),
        Video("opencv-doc", OpenCvData + "Megamind.avi", OpenCvLicence, MediaUse.TrainingAndValidation, "animated film clip"),
        Video("opencv-doc", OpenCvData + "tree.avi", OpenCvLicence, MediaUse.TrainingAndValidation, "tree seen through a window"),
        Photo("opencv-doc", OpenCvData + "messi5.jpg", OpenCvLicence, MediaUse.ReservedRealPeople, "football players"),
        Photo("opencv-doc", OpenCvData + "basketball1.png", OpenCvLicence, MediaUse.ReservedRealPeople, "people playing basketball"),
        Photo("opencv-doc", OpenCvData + "fruits.jpg", OpenCvLicence, MediaUse.TrainingAndValidation, "fruit"),
        Photo("opencv-doc", OpenCvData + "baboon.jpg", OpenCvLicence, MediaUse.TrainingAndValidation, "baboon face"),
        Photo("opencv-doc", OpenCvData + "building.jpg", OpenCvLicence, MediaUse.TrainingAndValidation, "building facade"),
        Photo("opencv-doc", OpenCvData + "home.jpg", OpenCvLicence, MediaUse.TrainingAndValidation, "house"),
        Photo("opencv-doc", OpenCvData + "graf1.png", OpenCvLicence, MediaUse.TrainingAndValidation, "graffiti wall"),
        Photo("opencv-doc", OpenCvData + "smarties.png", OpenCvLicence, MediaUse.TrainingAndValidation, "sweets on a table"),
        Photo("opencv-doc", OpenCvData + "starry_night.jpg", OpenCvLicence, MediaUse.TrainingAndValidation, "painting"),
        Photo("opencv-doc", OpenCvData + "rubberwhale1.png", OpenCvLicence, MediaUse.TrainingAndValidation, "toys on a table"),
        Photo("opencv-doc", OpenCvData + "squirrel_cls.jpg", OpenCvLicence, MediaUse.TrainingAndValidation, "squirrel"),

        // python3-skimage: scikit-image's sample data (package BSD-3-Clause; per-image notes below).
        Photo("python3-skimage", SkimageData + "astronaut.png", "public domain (NASA)", MediaUse.ReservedRealPeople, "portrait of an astronaut"),
        Photo("python3-skimage", SkimageData + "camera.png", "CC0-1.0 (Lav Varshney)", MediaUse.ReservedRealPeople, "person with a camera"),
        Photo("python3-skimage", SkimageData + "coffee.png", "CC0-1.0 (Rachel Michetti)", MediaUse.TrainingAndValidation, "cup of coffee"),
        Photo("python3-skimage", SkimageData + "chelsea.png", "CC0-1.0 (Stefan van der Walt)", MediaUse.TrainingAndValidation, "cat"),
        Photo("python3-skimage", SkimageData + "rocket.jpg", "public domain (SpaceX)", MediaUse.TrainingAndValidation, "rocket on a launch pad"),
        Photo("python3-skimage", SkimageData + "brick.png", "CC0-1.0 (CC0Textures)", MediaUse.TrainingAndValidation, "brick texture, grey"),
        Photo("python3-skimage", SkimageData + "grass.png", "CC0-1.0", MediaUse.TrainingAndValidation, "grass texture, grey"),
        Photo("python3-skimage", SkimageData + "gravel.png", "CC0-1.0 (CC0Textures)", MediaUse.TrainingAndValidation, "gravel texture, grey"),

        // mate-backgrounds: nature photographs.
        Photo("mate-backgrounds", MateNature + "Aqua.jpg", Gpl2, MediaUse.TrainingAndValidation, "water drops"),
        Photo("mate-backgrounds", MateNature + "Blinds.jpg", Gpl2, MediaUse.TrainingAndValidation, "window blinds"),
        Photo("mate-backgrounds", MateNature + "Dune.jpg", Gpl2, MediaUse.TrainingAndValidation, "sand dune"),
        Photo("mate-backgrounds", MateNature + "FreshFlower.jpg", Gpl2, MediaUse.TrainingAndValidation, "flower"),
        Photo("mate-backgrounds", MateNature + "Garden.jpg", Gpl2, MediaUse.TrainingAndValidation, "garden"),
        Photo("mate-backgrounds", MateNature + "GreenMeadow.jpg", Gpl2, MediaUse.TrainingAndValidation, "meadow"),
        Photo("mate-backgrounds", MateNature + "LadyBird.jpg", Gpl2, MediaUse.TrainingAndValidation, "ladybird on a leaf"),
        Photo("mate-backgrounds", MateNature + "RainDrops.jpg", Gpl2, MediaUse.TrainingAndValidation, "rain drops"),
        Photo("mate-backgrounds", MateNature + "Storm.jpg", Gpl2, MediaUse.TrainingAndValidation, "storm clouds"),
        Photo("mate-backgrounds", MateNature + "TwoWings.jpg", Gpl2, MediaUse.TrainingAndValidation, "butterfly"),
        Photo("mate-backgrounds", MateNature + "Wood.jpg", Gpl2, MediaUse.TrainingAndValidation, "wood"),
        Photo("mate-backgrounds", MateNature + "YellowFlower.jpg", Gpl2, MediaUse.TrainingAndValidation, "yellow flower"),

        // plasma-workspace-wallpapers: KDE's photographic wallpapers.
        Photo("plasma-workspace-wallpapers", Plasma + "Autumn/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "autumn leaves"),
        Photo("plasma-workspace-wallpapers", Plasma + "BytheWater/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "lake shore"),
        Photo("plasma-workspace-wallpapers", Plasma + "ColdRipple/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "water ripples"),
        Photo("plasma-workspace-wallpapers", Plasma + "ColorfulCups/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "coloured cups"),
        Photo("plasma-workspace-wallpapers", Plasma + "DarkestHour/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "night sky"),
        Photo("plasma-workspace-wallpapers", Plasma + "EveningGlow/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "sunset"),
        Photo("plasma-workspace-wallpapers", Plasma + "FallenLeaf/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "fallen leaf"),
        Photo("plasma-workspace-wallpapers", Plasma + "Grey/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "grey landscape"),
        Photo("plasma-workspace-wallpapers", Plasma + "Kite/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "kite in the sky"),
        Photo("plasma-workspace-wallpapers", Plasma + "OneStandsOut/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "flowers"),
        Photo("plasma-workspace-wallpapers", Plasma + "PastelHills/contents/images/3200x2000.jpg", Gpl2, MediaUse.TrainingAndValidation, "hills"),
        Photo("plasma-workspace-wallpapers", Plasma + "Path/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "forest path"),
        Photo("plasma-workspace-wallpapers", Plasma + "summer_1am/contents/images/2560x1600.jpg", Gpl2, MediaUse.TrainingAndValidation, "summer night"),
        Photo("plasma-workspace-wallpapers", Plasma + "SafeLanding/contents/images/5120x2880.jpg", Gpl2, MediaUse.TrainingAndValidation, "landscape"),
        Photo("plasma-workspace-wallpapers", Plasma + "Volna/contents/images/5120x2880.jpg", Gpl2, MediaUse.TrainingAndValidation, "wave"),

        // darknet: YOLO's sample photos without people, held out as the real-people validation set's backgrounds.
        Photo("darknet", DarknetData + "dog.jpg", DarknetLicence, MediaUse.HeldOutBackground, "dog, bicycle and a truck"),
        Photo("darknet", DarknetData + "eagle.jpg", DarknetLicence, MediaUse.HeldOutBackground, "eagle against the sky"),
        Photo("darknet", DarknetData + "giraffe.jpg", DarknetLicence, MediaUse.HeldOutBackground, "giraffe and zebra"),
        Photo("darknet", DarknetData + "horses.jpg", DarknetLicence, MediaUse.HeldOutBackground, "horses in a field"),
    ];

    /// <summary>Packages scripts/fetch-media.sh must fetch for <see cref="All"/> to resolve.</summary>
    public static IReadOnlyList<string> Packages { get; } = All.Select(f => f.Package).Distinct().ToArray();

    public static IReadOnlyList<MediaFile> For(DataSplit split, MediaKind kind) =>
        All.Where(f => f.Kind == kind && f.AllowedIn(split)).ToArray();

    public static MediaFile Get(string id) =>
        All.FirstOrDefault(f => f.Id == id)
        ?? throw new ArgumentException($"No media file '{id}' in the catalog; known ids: {string.Join(", ", All.Select(f => f.Id))}", nameof(id));

    /// <summary>The manifest as a Markdown table (the same table as docs/media.md).</summary>
    public static string FormatManifest()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| file | Debian package | licence | kind | use | shows |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var f in All)
        {
            string use = f.Use switch
            {
                MediaUse.ReservedRealPeople => "validation/tests/README only (real people)",
                MediaUse.HeldOutBackground => "real-people validation backgrounds only",
                _ => "training and validation",
            };
            sb.AppendLine($"| `{f.PathInPackage}` | {f.Package} | {f.Licence} | {f.Kind.ToString().ToLowerInvariant()} | {use} | {f.Description} |");
        }
        return sb.ToString();
    }

    private static MediaFile Photo(string package, string path, string licence, MediaUse use, string description) =>
        new(package, path, licence, MediaKind.Photo, use, description);

    private static MediaFile Video(string package, string path, string licence, MediaUse use, string description) =>
        new(package, path, licence, MediaKind.Video, use, description);
}
