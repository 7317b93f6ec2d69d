# The part of nixpkgs' `lib` that claudebox's flake.nix and the stand-in package set use, with
# nixpkgs' semantics, and its argument checks where a wrong call would otherwise pass silently.
let
  inherit (builtins)
    all
    any
    attrNames
    concatMap
    concatStringsSep
    elem
    filter
    isAttrs
    isFunction
    isList
    isPath
    isString
    listToAttrs
    match
    pathExists
    replaceStrings
    stringLength
    substring
    toString
    typeOf
    ;

  hasPrefix = prefix: string: substring 0 (stringLength prefix) string == prefix;

  expect =
    what: ok: value:
    if ok then value else throw "stand-in lib: ${what}";

  # A file set: the paths it holds (files or whole directories), all existing.
  isFileset = value: isAttrs value && value._type or null == "fileset";
  coerceFileset =
    context: index: value:
    if isFileset value then
      value
    else if isPath value then
      if pathExists value then
        {
          _type = "fileset";
          paths = [ value ];
        }
      else
        throw "lib.fileset.${context}: Element ${toString index} (${toString value}) is a path that does not exist. To create a file set from a path that may not exist, use `lib.fileset.maybeMissing`."
    else
      throw "lib.fileset.${context}: Element ${toString index} is a ${typeOf value}, not a file set or a path";

  licenses = {
    mit = {
      spdxId = "MIT";
      shortName = "mit";
      fullName = "MIT License";
      url = "https://spdx.org/licenses/MIT.html";
      free = true;
      redistributable = true;
      deprecated = false;
    };
    unfree = {
      shortName = "unfree";
      fullName = "Unfree";
      free = false;
      redistributable = false;
      deprecated = false;
    };
  };
in
rec {
  inherit hasPrefix licenses;

  genAttrs =
    names: f:
    expect "genAttrs takes a list of names" (isList names) (
      listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      )
    );

  fix =
    f:
    let
      x = f x;
    in
    x;

  optional = condition: value: if condition then [ value ] else [ ];
  optionalString = condition: string: if condition then string else "";
  optionalAttrs = condition: attrs: if condition then attrs else { };
  concatMapStringsSep =
    separator: f: list:
    concatStringsSep separator (map f list);
  makeBinPath = packages: concatMapStringsSep ":" (package: "${package}/bin") packages;

  getName =
    x:
    if isString x then
      (builtins.parseDrvName x).name
    else if x ? pname then
      x.pname
    else
      (builtins.parseDrvName x.name).name;

  # nixpkgs warns and guesses when meta.mainProgram is missing; the stand-in refuses.
  getExe =
    package:
    if package ? meta.mainProgram then
      "${package}/bin/${package.meta.mainProgram}"
    else
      throw "stand-in lib.getExe: ${package.name or "?"} has no meta.mainProgram";

  escapeShellArg =
    arg:
    let
      string = toString arg;
    in
    if match "[[:alnum:],._+:@%/-]+" string == null then
      "'${replaceStrings [ "'" ] [ "'\\''" ] string}'"
    else
      string;

  fileset = {
    maybeMissing =
      path:
      expect "lib.fileset.maybeMissing takes a path, got a ${typeOf path}" (isPath path) {
        _type = "fileset";
        paths = if pathExists path then [ path ] else [ ];
      };

    unions =
      list:
      expect "lib.fileset.unions takes a list" (isList list) {
        _type = "fileset";
        paths = concatMap (index: (coerceFileset "unions" index (builtins.elemAt list index)).paths) (
          builtins.genList (i: i) (builtins.length list)
        );
      };

    toSource =
      { root, fileset }@args:
      let
        unknown = filter (name: !elem name [ "root" "fileset" ]) (attrNames args);
        set = coerceFileset "toSource" 0 fileset;
        rootString = toString root;
        paths = map toString set.paths;
        outside = filter (path: path != rootString && !hasPrefix "${rootString}/" path) paths;
        # A path is kept when it is in the set, inside a directory of the set, or a directory
        # that leads to one (nixpkgs' toSource keeps exactly the set's files and their parents).
        keep =
          path: type:
          any (
            member: path == member || hasPrefix "${member}/" path || (type == "directory" && hasPrefix "${path}/" member)
          ) paths;
      in
      expect "lib.fileset.toSource: unknown arguments ${toString unknown}" (unknown == [ ]) (
        expect "lib.fileset.toSource: root must be a path, got a ${typeOf root}" (isPath root) (
          expect "lib.fileset.toSource: ${toString outside} not under root ${rootString}" (outside == [ ]) (
            builtins.path {
              name = "source";
              path = root;
              filter = keep;
            }
          )
        )
      );
  };

  # For the stand-in package set: argument checking.
  checkArgs =
    function: allowed: args:
    let
      unknown = filter (name: !elem name allowed) (attrNames args);
    in
    if unknown == [ ] then
      args
    else
      throw "stand-in ${function}: unknown argument(s) ${concatStringsSep ", " unknown} (known: ${concatStringsSep ", " allowed})";

  checkType =
    function: name: predicate: description: value:
    if predicate value then
      value
    else
      throw "stand-in ${function}: ${name} must be ${description}, got a ${typeOf value}";

  isDerivation = value: isAttrs value && value.type or null == "derivation";
  allDerivations = list: isList list && all isDerivation list;
  isFunctionValue = isFunction;
}
