package staff_test

import (
	"fmt"

	"keycard/staff"
)

func ExampleAllowed() {
	fmt.Println(staff.Allowed(staff.RoleFrontDesk, staff.PermStays))
	fmt.Println(staff.Allowed(staff.RoleFrontDesk, staff.PermNAS))
	fmt.Println(staff.Allowed(staff.RoleAdmin, staff.PermAudit))
	// Output:
	// true
	// false
	// true
}

func ExampleCheckPassword() {
	fmt.Println(staff.CheckPassword("alice", "Sunshine2026!"))
	fmt.Println(staff.CheckPassword("alice", "alice-at-the-desk"))
	fmt.Println(staff.CheckPassword("alice", "lobby piano after midnight"))
	// Output:
	// staff: password is one of the most common passwords (or one with digits or symbols around it): choose another
	// staff: password contains the account name "alice": choose another
	// <nil>
}
