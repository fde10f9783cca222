; codewalk C++ query (tree-sitter-cpp; also used for .cu/.cuh).
; Capture names are the contract with codewalk/index/cpp.py: change them together
; and bump QUERY_VERSION in codewalk/index/__init__.py.

(namespace_definition name: (_) @namespace.name) @namespace

; Only specifiers with a body define a type; `class Foo;` and uses do not.
(class_specifier name: (_) @class.name body: (_)) @class
(struct_specifier name: (_) @class.name body: (_)) @class
(union_specifier name: (_) @class.name body: (_)) @class
(enum_specifier name: (_) @enum.name body: (_)) @enum

(function_definition declarator: (_) @function.declarator) @function

; Prototypes: at namespace/file scope and inside class bodies (methods, constructors).
(translation_unit (declaration declarator: (_) @prototype.declarator) @prototype)
(declaration_list (declaration declarator: (_) @prototype.declarator) @prototype)
(template_declaration (declaration declarator: (_) @prototype.declarator) @prototype)
(field_declaration_list (declaration declarator: (_) @prototype.declarator) @prototype)
(field_declaration_list (template_declaration (declaration declarator: (_) @prototype.declarator) @prototype))

; Member prototypes and data members share field_declaration; cpp.py tells them apart.
(field_declaration_list (field_declaration declarator: (_) @member.declarator) @member)

(preproc_function_def name: (identifier) @macro.name) @macro

(preproc_include path: (_) @include.path) @include

(call_expression function: (_) @call.function arguments: (argument_list) @call.arguments) @call
